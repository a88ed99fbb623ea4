"""The process-wide ExecutionLogger (``execution_logger``, what callers import).

``get_execution_logger()`` returns the logger installed by the running app (``create_app``
installs its own at startup), or builds one from the environment settings on first use, so
code far from any request (a script, a runner) can log without dependency injection.
"""

from __future__ import annotations

import threading

from execlog_producer import ExecutionLogger

_lock = threading.Lock()
_current: ExecutionLogger | None = None


def get_execution_logger() -> ExecutionLogger:
    """The installed logger, else one made from ``get_settings()`` (and installed)."""
    global _current
    with _lock:
        if _current is None or _current.closed:
            from execlog_api.logger.setup import logger_from_settings
            from execlog_api.settings import get_settings

            _current = logger_from_settings(get_settings())
        return _current


def set_execution_logger(logger: ExecutionLogger | None) -> None:
    """Install ``logger`` as the process-wide one (None forgets it)."""
    global _current
    with _lock:
        _current = logger
