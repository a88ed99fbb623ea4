"""execlog API service: workflow executions and the ExecutionLogger producer."""

from execlog_api._version import __version__

__all__ = ["__version__"]
