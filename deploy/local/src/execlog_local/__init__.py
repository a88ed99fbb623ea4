"""execlog_local: run the whole execlog system on this machine (``./pants run deploy/local:up``)."""

from execlog_local._version import __version__

__all__ = ["__version__"]
