"""Version of the execlog-api service (the one place it is stated)."""

__version__ = "0.3.0"
