"""Version of the execlog-broker library (the one place it is stated)."""

__version__ = "0.2.0"
