"""Producer fast path: build contract objects without per-record pydantic validation.

Every value is sanitized (``execlog_schema.sanitize``; payloads by ``execlog_schema.payload``)
and bounded (``execlog_schema.limits``) here, so the objects are valid by construction and are
assembled with a direct, validation-free constructor. Data problems (NUL, surrogates, oversize
text or payload, odd payload types) are fixed, never raised; programmer errors (an id that is
not a UUID, an unknown level, a bad ``attempt``) raise ``ValueError``/``TypeError`` at the call
site, so a bad record can never poison a whole batch downstream.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from uuid import UUID, SafeUUID

import uuid_utils
from pydantic import BaseModel

from execlog_schema.limits import (
    MAX_ATTEMPT,
    MAX_COMPONENT_LEN,
    MAX_HOST_LEN,
    MAX_NODE_ID_LEN,
    MAX_RECORDS_PER_BATCH,
    MAX_SERVICE_LEN,
    MAX_SERVICE_VERSION_LEN,
)
from execlog_schema.models import (
    SCHEMA_VERSION,
    SPAN_ID_LEN,
    TRACE_ID_LEN,
    LogBatch,
    LogLevel,
    LogRecord,
    Producer,
)
from execlog_schema.payload import PayloadConverter, clean_payload
from execlog_schema.sanitize import clean_text, cut_text, truncate_message

_M = TypeVar("_M", bound=BaseModel)

_LEVEL_ALIASES: Final[dict[str, LogLevel]] = {
    **{lvl.value: lvl for lvl in LogLevel},
    "WARN": LogLevel.WARNING,
    "FATAL": LogLevel.CRITICAL,
    "EXCEPTION": LogLevel.ERROR,
}
_UNKNOWN: Final = SafeUUID.unknown
_new_object = object.__new__
# Slot setters: the same stores ``UUID(int=...)`` and ``Model.model_construct`` do, minus checks.
_set_uuid_int = UUID.__dict__["int"].__set__
_set_uuid_safe = UUID.__dict__["is_safe"].__set__
_set_model_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def uuid7() -> UUID:
    """A new time-ordered UUIDv7 (monotonic within the process) as a stdlib ``uuid.UUID``."""
    value = _new_object(UUID)
    _set_uuid_int(value, uuid_utils.uuid7().int)
    _set_uuid_safe(value, _UNKNOWN)
    return value


def utc_now() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(UTC)


def _construct(cls: type[_M], values: dict[str, Any]) -> _M:
    """Like ``cls.model_construct(**values)`` for a full set of fields, minus its overhead."""
    obj = _new_object(cls)
    _set_model_dict(obj, values)
    _set_fields_set(obj, set(values))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def _as_uuid(value: UUID | str, name: str) -> UUID:
    if type(value) is UUID:
        return value
    if isinstance(value, UUID):
        return UUID(int=value.int)
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            raise ValueError(f"{name} is not a UUID: {value!r}") from None
    raise TypeError(f"{name} must be a UUID or str, got {type(value).__name__}")


def as_level(level: LogLevel | str | int) -> LogLevel:
    """Map a ``LogLevel``, a level name (any case; WARN/FATAL/EXCEPTION too) or a stdlib
    ``logging`` number (rounded down to the nearest level, below DEBUG -> DEBUG)."""
    if type(level) is LogLevel:
        return level
    if isinstance(level, str):
        found = _LEVEL_ALIASES.get(level.upper())
        if found is None:
            raise ValueError(f"unknown log level {level!r}")
        return found
    if isinstance(level, int) and not isinstance(level, bool):
        for threshold, name in (
            (logging.CRITICAL, LogLevel.CRITICAL),
            (logging.ERROR, LogLevel.ERROR),
            (logging.WARNING, LogLevel.WARNING),
            (logging.INFO, LogLevel.INFO),
        ):
            if level >= threshold:
                return name
        return LogLevel.DEBUG
    raise TypeError(f"level must be LogLevel, str or int, got {type(level).__name__}")


def _text(value: object) -> str:
    return clean_text(value if isinstance(value, str) else str(value))


_HEX_DIGITS: Final = frozenset("0123456789abcdef")


def as_trace_hex(value: str | int | None, length: int, name: str = "trace id") -> str | None:
    """A W3C trace-context id as ``length`` lowercase hex digits, from OpenTelemetry's int form
    or hex text (any case); ``None`` for an absent or all-zero (invalid, i.e. no span) id.
    Anything else raises ``ValueError``/``TypeError``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 1 << (4 * length):
            raise ValueError(f"{name} out of range for {length} hex digits: {value!r}")
        return f"{value:0{length}x}" if value else None
    if isinstance(value, str):
        text = value.lower()
        if len(text) != length or not _HEX_DIGITS.issuperset(text):
            raise ValueError(f"{name} must be {length} hex digits, got {value!r}")
        return None if text.count("0") == length else text
    raise TypeError(f"{name} must be str, int or None, got {type(value).__name__}")


_IDENT_CACHE_SIZE: Final = 4096
_component_cache: dict[object, str] = {}
_node_cache: dict[object, str | None] = {}


def _component(value: object) -> str:
    found = _component_cache.get(value)
    if found is None:
        found = cut_text(_text(value), MAX_COMPONENT_LEN) or "unknown"
        if len(_component_cache) < _IDENT_CACHE_SIZE and isinstance(value, str):
            _component_cache[value] = found
    return found


def _node_id(value: object) -> str | None:
    if value is None:
        return None
    try:
        return _node_cache[value]
    except (KeyError, TypeError):
        found = cut_text(_text(value), MAX_NODE_ID_LEN) or None
        if len(_node_cache) < _IDENT_CACHE_SIZE and isinstance(value, str):
            _node_cache[value] = found
        return found


def new_record(
    *,
    execution_id: UUID | str,
    level: LogLevel | str | int,
    message: object,
    component: str,
    node_id: str | None = None,
    payload: Mapping[str, Any] | object | None = None,
    workflow_id: UUID | str | None = None,
    attempt: int | None = None,
    created_at: datetime | None = None,
    record_id: UUID | None = None,
    converter: PayloadConverter | None = None,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
) -> LogRecord:
    """Build a valid ``LogRecord``: UUIDv7 id, ``created_at`` = now (UTC), text sanitized,
    message truncated with a marker, payload made by ``converter.payload`` (default: the
    payload rules with nothing redacted, ``clean_payload``), trace context by
    ``as_trace_hex`` (OpenTelemetry's ints or hex text; all-zero ids mean none)."""
    if attempt is not None and (
        isinstance(attempt, bool) or not isinstance(attempt, int) or not 0 <= attempt <= MAX_ATTEMPT
    ):
        raise ValueError(f"attempt must be an int in [0, {MAX_ATTEMPT}], got {attempt!r}")
    if created_at is None:
        created_at = datetime.now(UTC)
    elif created_at.tzinfo is None or created_at.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware")
    elif created_at.tzinfo is not UTC:
        created_at = created_at.astimezone(UTC)
    return _construct(
        LogRecord,
        {
            "id": uuid7() if record_id is None else _as_uuid(record_id, "record_id"),
            "execution_id": _as_uuid(execution_id, "execution_id"),
            "workflow_id": None if workflow_id is None else _as_uuid(workflow_id, "workflow_id"),
            "node_id": _node_id(node_id),
            "component": _component(component),
            "level": as_level(level),
            "message": truncate_message(_text(message)),
            "payload": clean_payload(payload) if converter is None else converter.payload(payload),
            "created_at": created_at,
            "attempt": attempt,
            "trace_id": (
                None if trace_id is None else as_trace_hex(trace_id, TRACE_ID_LEN, "trace_id")
            ),
            "span_id": None if span_id is None else as_trace_hex(span_id, SPAN_ID_LEN, "span_id"),
        },
    )


_HOSTNAME: str | None = None


def _hostname() -> str:
    global _HOSTNAME
    if _HOSTNAME is None:
        _HOSTNAME = cut_text(clean_text(socket.gethostname()), MAX_HOST_LEN)
    return _HOSTNAME


def make_producer(service: str, version: str) -> Producer:
    """A ``Producer`` for this process (host name and the *current* pid: call it after fork)."""
    return _construct(
        Producer,
        {
            "service": cut_text(_text(service), MAX_SERVICE_LEN) or "unknown",
            "version": cut_text(_text(version), MAX_SERVICE_VERSION_LEN) or "unknown",
            "host": _hostname(),
            "pid": os.getpid(),
        },
    )


def new_batch(records: Sequence[LogRecord] | Iterable[LogRecord], producer: Producer) -> LogBatch:
    """Wrap 1..``MAX_RECORDS_PER_BATCH`` records in a ``LogBatch``.

    A record id seen twice is kept once (same id = same record), as the contract wants
    distinct ids in a batch.
    """
    items = list(records)
    if len({r.id for r in items}) != len(items):
        unique: dict[UUID, LogRecord] = {}
        for record in items:
            unique.setdefault(record.id, record)
        items = list(unique.values())
    if not 1 <= len(items) <= MAX_RECORDS_PER_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_RECORDS_PER_BATCH} records, got {len(items)}")
    return _construct(
        LogBatch,
        {
            "schema_version": SCHEMA_VERSION,
            "batch_id": uuid7(),
            "producer": producer,
            "sent_at": datetime.now(UTC),
            "records": items,
        },
    )


def new_batches(
    records: Iterable[LogRecord], producer: Producer, *, max_records: int = MAX_RECORDS_PER_BATCH
) -> Iterator[LogBatch]:
    """Split records into as many batches of at most ``max_records`` as needed."""
    if not 1 <= max_records <= MAX_RECORDS_PER_BATCH:
        raise ValueError(f"max_records must be in [1, {MAX_RECORDS_PER_BATCH}]")
    chunk: list[LogRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == max_records:
            yield new_batch(chunk, producer)
            chunk = []
    if chunk:
        yield new_batch(chunk, producer)


__all__ = [
    "as_level",
    "as_trace_hex",
    "clean_payload",
    "make_producer",
    "new_batch",
    "new_batches",
    "new_record",
    "utc_now",
    "uuid7",
]
