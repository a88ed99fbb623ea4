"""Version of the log-worker service (the one place it is stated)."""

__version__ = "0.3.0"
