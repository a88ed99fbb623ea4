"""A structlog processor that ships the events of an execution through an ExecutionLogger.

Put it in the chain after ``structlog.contextvars.merge_contextvars`` (so ids bound there are in
the event dict) and before the renderer::

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        ship_to_execlog(execution_logger),
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.JSONRenderer(),
    ])

An event is shipped when it carries an execution: an ``execution_id`` key, else the binding of
:func:`execlog_producer.context.bind_execution`. The processor returns the event dict it was
given, unchanged, whether it shipped it or not, so the chain goes on and the line is rendered
as usual.

What a shipped event becomes (``ExecutionLogger.log``):

- level: the ``level`` key when present (``add_log_level``), else the method name
  (``debug`` ... ``critical``; ``warn``, ``exception``, ``fatal`` too; a number is a stdlib
  level); anything else -> INFO;
- message: ``event`` (as text; ``""`` when absent);
- ``node_id`` / ``component``: the event's keys, else the binding's (only when the event's
  execution is the bound one, see :func:`execlog_producer.context.binding_for`);
  ``workflow_id`` / ``attempt``: the event's keys when present;
- ``error``: the exception of ``exc_info`` (an exception, a ``sys.exc_info()`` tuple, or
  ``True`` for the one being handled, as ``log.exception(...)`` sets it);
- payload: every other key, as is (the logger's payload rules convert and redact it), except
  :data:`EVENT_FIELD_KEYS`, the structlog bookkeeping in :data:`STRUCTLOG_INTERNAL_KEYS` and
  private keys (a leading ``_``).

A stdlib record that ``structlog.stdlib.ProcessorFormatter`` runs through its
``foreign_pre_chain`` (``_from_structlog`` is False) passes untouched:
:class:`execlog_producer.logging_bridge.ExecutionLogHandler` ships those, so a line is never
shipped twice, and the same processor list may serve as chain and ``foreign_pre_chain``.
An event logged while the processor ships one (the producer's own warnings) is not shipped. The
processor never raises: a failure (an ``execution_id`` that is not a UUID, a bad ``attempt``) is
printed to stderr with its traceback, counted in ``ExecutionLogProcessor.failures``, and the
event goes on down the chain.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Any, Final

from structlog.typing import EventDict, WrappedLogger

from execlog_producer.context import binding_for
from execlog_producer.execution_logger import ExecutionLogger
from execlog_schema.builder import as_level
from execlog_schema.models import LogLevel

EVENT_FIELD_KEYS: Final[frozenset[str]] = frozenset(
    {"event", "execution_id", "node_id", "component", "workflow_id", "attempt", "exc_info"}
)
"""Keys that fill ``ExecutionLogger.log`` arguments rather than the payload."""

STRUCTLOG_INTERNAL_KEYS: Final[frozenset[str]] = frozenset(
    {"timestamp", "logger", "logger_name", "level", "positional_args"}
)
"""Keys structlog's own processors add (time, logger name, level, %-args): never payload."""


def level_of(method_name: str, event_dict: EventDict) -> LogLevel:
    """The schema level of an event: its ``level`` key, else ``method_name``; else INFO."""
    for candidate in (event_dict.get("level"), method_name):
        if isinstance(candidate, str | int) and not isinstance(candidate, bool):
            try:
                return as_level(candidate)
            except ValueError:
                continue
    return LogLevel.INFO


def error_of(exc_info: object) -> BaseException | None:
    """The exception an ``exc_info`` value names (``True``: the one being handled)."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        found = exc_info[1]
        return found if isinstance(found, BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def event_payload(event_dict: EventDict) -> dict[str, Any]:
    """The payload of an event: its keys but the fields, structlog's own and private ones."""
    return {
        key: value
        for key, value in event_dict.items()
        if key not in EVENT_FIELD_KEYS
        and key not in STRUCTLOG_INTERNAL_KEYS
        and not key.startswith("_")
    }


def is_foreign_record(event_dict: EventDict) -> bool:
    """Whether the event is a stdlib record in ``ProcessorFormatter``'s ``foreign_pre_chain``."""
    return event_dict.get("_from_structlog") is False


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


class ExecutionLogProcessor:
    """The processor :func:`ship_to_execlog` returns (see the module doc)."""

    def __init__(self, execution_logger: ExecutionLogger) -> None:
        self.execution_logger = execution_logger
        self.failures = 0
        self._shipping = threading.local()

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Ship the event when it carries an execution; return ``event_dict`` unchanged."""
        if getattr(self._shipping, "active", False) or is_foreign_record(event_dict):
            return event_dict
        self._shipping.active = True
        try:
            self.ship(method_name, event_dict)
        except Exception:
            self.failures += 1
            print("--- execlog structlog bridge: event not shipped ---", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
        finally:
            self._shipping.active = False
        return event_dict

    def ship(self, method_name: str, event_dict: EventDict) -> bool:
        """Log the event through the ExecutionLogger; False when it carries no execution.

        Raises what ``ExecutionLogger.log`` raises (``__call__`` catches it).
        """
        target = binding_for(
            event_dict.get("execution_id"),
            _text_or_none(event_dict.get("node_id")),
            _text_or_none(event_dict.get("component")),
        )
        if target is None:
            return False
        event = event_dict.get("event")
        self.execution_logger.log(
            target.execution_id,
            level_of(method_name, event_dict),
            "" if event is None else str(event),
            node_id=target.node_id,
            component=target.component,
            payload=event_payload(event_dict),
            workflow_id=event_dict.get("workflow_id"),
            attempt=event_dict.get("attempt"),
            error=error_of(event_dict.get("exc_info")),
        )
        return True


def ship_to_execlog(execution_logger: ExecutionLogger) -> ExecutionLogProcessor:
    """A structlog processor shipping the events that carry an execution to ``execution_logger``."""
    return ExecutionLogProcessor(execution_logger)
