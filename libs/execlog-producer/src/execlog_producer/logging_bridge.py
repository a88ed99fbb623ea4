"""A stdlib ``logging.Handler`` that ships the records of an execution through an ExecutionLogger.

``root.addHandler(ExecutionLogHandler(execution_logger))``; then::

    log.info("step done", extra={"execution_id": eid, "node_id": "n1", "rows": 12})
    with bind_execution(eid, node_id="n1"):
        log.warning("slow step", extra={"payload": {"seconds": 3.5}})

A record is shipped when it carries an execution: an ``execution_id`` attribute (``extra=``),
else the binding of :func:`execlog_producer.context.bind_execution`. Any other record is left
alone: this handler does nothing with it and the logger's other handlers print it as usual (a
shipped record is printed by them too; the handler adds a destination, it takes nothing away).

What a shipped record becomes (``ExecutionLogger.log``):

- level: ``record.levelno`` -> DEBUG / INFO / WARNING / ERROR / CRITICAL; a custom level
  rounds down to the nearest of them, below DEBUG -> DEBUG;
- message: ``record.getMessage()`` (the handler's formatter is not used);
- ``node_id`` / ``component``: the record's attributes, else the binding's (only when the
  record's execution is the bound one, see :func:`execlog_producer.context.binding_for`);
  ``workflow_id`` / ``attempt``: the record's attributes when present;
- ``error``: the exception of ``exc_info`` (``log.exception(...)``, ``exc_info=True``);
- payload: every ``extra`` attribute that is not a standard ``LogRecord`` attribute, not one of
  the fields above (:data:`ROUTING_ATTRIBUTES`), not private (a leading ``_``) and whose value
  is plain JSON (``str``, ``int``, ``float``, ``bool``, ``None``, and lists, tuples and
  ``str``-keyed dicts of them, at most :data:`MAX_EXTRA_DEPTH` deep); other values (a request
  object some framework put in ``extra``) are left out. A ``payload`` extra that is a mapping
  is merged over them as given (converted by the logger's payload rules, redaction included);
  a plain-JSON ``payload`` extra that is not a mapping is kept under the key ``payload``.

Records that structlog routed through the standard library (``record.msg`` is structlog's
event dict) are passed on: :func:`execlog_producer.structlog_bridge.ship_to_execlog` ships
those, so a line is never shipped twice. Neither is a record logged while this handler is
shipping one (the producer's own warnings). ``emit`` never raises: a failure (an
``execution_id`` that is not a UUID, a ``getMessage()`` whose arguments do not fit) goes to
``Handler.handleError``, which prints it to stderr when ``logging.raiseExceptions`` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final

from execlog_producer.context import binding_for
from execlog_producer.execution_logger import ExecutionLogger
from execlog_schema.builder import as_level
from execlog_schema.models import LogLevel

STANDARD_RECORD_ATTRIBUTES: Final[frozenset[str]] = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}
"""Attributes every ``LogRecord`` has (or gets from a formatter): never payload."""

ROUTING_ATTRIBUTES: Final[frozenset[str]] = frozenset(
    {"execution_id", "node_id", "component", "workflow_id", "attempt", "payload"}
)
"""``extra`` keys that fill ``ExecutionLogger.log`` arguments rather than the payload."""

MAX_EXTRA_DEPTH: Final = 16
"""Deepest nesting of lists/dicts an ``extra`` value may have to be taken into the payload."""


def level_of(levelno: int) -> LogLevel:
    """The schema level of a stdlib level number (custom levels round down, minimum DEBUG)."""
    return as_level(levelno)


def is_plain_json(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is plain JSON data (see the module doc), at most MAX_EXTRA_DEPTH deep."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if depth >= MAX_EXTRA_DEPTH:
        return False
    if isinstance(value, list | tuple):
        return all(is_plain_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and is_plain_json(item, depth + 1) for key, item in value.items()
        )
    return False


def extra_payload(record: logging.LogRecord) -> dict[str, Any]:
    """The payload of ``record``: its plain-JSON extras, then its ``payload`` extra over them."""
    payload: dict[str, Any] = {
        key: value
        for key, value in record.__dict__.items()
        if key not in STANDARD_RECORD_ATTRIBUTES
        and key not in ROUTING_ATTRIBUTES
        and not key.startswith("_")
        and is_plain_json(value)
    }
    explicit = record.__dict__.get("payload")
    if isinstance(explicit, Mapping):
        payload.update(explicit)
    elif explicit is not None and is_plain_json(explicit):
        payload["payload"] = explicit
    return payload


def is_structlog_record(record: logging.LogRecord) -> bool:
    """Whether structlog made ``record`` (``ProcessorFormatter.wrap_for_formatter``)."""
    return isinstance(record.msg, dict) and "_logger" in record.__dict__


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


class ExecutionLogHandler(logging.Handler):
    """Ships the records that carry an execution to ``execution_logger`` (see the module doc)."""

    def __init__(
        self, execution_logger: ExecutionLogger, level: int | str = logging.NOTSET
    ) -> None:
        super().__init__(level)
        self.execution_logger = execution_logger
        self._shipping = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        """Ship ``record`` when it carries an execution; never raises."""
        if getattr(self._shipping, "active", False) or is_structlog_record(record):
            return
        self._shipping.active = True
        try:
            self.ship(record)
        except Exception:
            self.handleError(record)
        finally:
            self._shipping.active = False

    def ship(self, record: logging.LogRecord) -> bool:
        """Log ``record`` through the ExecutionLogger; False when it carries no execution.

        Raises what ``ExecutionLogger.log`` raises (``emit`` catches it).
        """
        attributes = record.__dict__
        target = binding_for(
            attributes.get("execution_id"),
            _text_or_none(attributes.get("node_id")),
            _text_or_none(attributes.get("component")),
        )
        if target is None:
            return False
        error = record.exc_info[1] if record.exc_info else None
        self.execution_logger.log(
            target.execution_id,
            level_of(record.levelno),
            record.getMessage(),
            node_id=target.node_id,
            component=target.component,
            payload=extra_payload(record),
            workflow_id=attributes.get("workflow_id"),
            attempt=attributes.get("attempt"),
            error=error,
        )
        return True
