"""execlog log-worker: Celery consumer of the ``logs`` queue that owns the execution_logs table."""

from execlog_worker._version import __version__

__all__ = ["__version__"]
