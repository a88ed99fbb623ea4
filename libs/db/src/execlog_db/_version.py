"""Version of the execlog-db library (the one place it is stated)."""

__version__ = "0.2.0"
