"""One logging setup for every execlog service: structlog and stdlib records rendered alike.

``LOG_FORMAT=json`` prints one JSON object per line, ``console`` readable text. Records of
structlog and of the standard library (uvicorn, Celery, SQLAlchemy, asyncpg) go through the
same processors, so every line of every service has the same shape: ``event``, ``level``,
``logger``, ``timestamp``, the context bound with ``structlog.contextvars`` (under the names
in :data:`CONTEXT_KEYS`), and an exception as a structured ``exception`` list (JSON) or a
traceback (console).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Any, Literal

import orjson
import structlog
from structlog.typing import Processor

LogFormat = Literal["json", "console"]

CONTEXT_KEYS = ("request_id", "execution_id", "batch_id", "task_id")
"""The names both services bind the same things under (``structlog.contextvars``)."""

QUIET_LOGGERS = (
    "asyncio",
    "urllib3",
    "uvicorn.access",
    "alembic.runtime.plugins",
)
"""Loggers held at WARNING: their INFO lines say nothing an operator acts on."""


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(
    fmt: LogFormat = "json", level: str | int = "INFO", logfile: str | None = None
) -> None:
    """Route structlog and stdlib logging to one handler (stderr, or ``logfile``); idempotent."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if fmt == "json":
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=logfile is None and sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Celery configures logging again in each child: loggers must pick up the new setup.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler: logging.Handler
    if logfile:
        # WatchedFileHandler reopens the file after logrotate moves it.
        handler = logging.handlers.WatchedFileHandler(logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print its lines a second time, unformatted.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name``."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
