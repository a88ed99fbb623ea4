"""What every execlog service process shares, whatever its domain: startup checks, logging,
how settings are read from the environment."""

from execlog_service._version import __version__

__all__ = ["__version__"]
