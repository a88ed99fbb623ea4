"""Redis broker settings shared by the execlog services."""

from execlog_broker._version import __version__

__all__ = ["__version__"]
