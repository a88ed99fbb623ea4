"""Version of the execlog-producer library (the one place it is stated)."""

__version__ = "0.1.0"
