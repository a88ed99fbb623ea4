"""Encoding (producer) and decoding + validation (consumer) of ``LogBatch`` on the wire.

Producer: ``encode_batch`` (bytes) / ``batch_to_wire`` (JSON-ready dict, for ``send_task``).
Consumer: ``decode_batch`` validates a whole batch in one pydantic call and raises only
``BatchRejected`` (with a human reason and the batch id when readable), for any input at all.

Version handling in ``decode_batch``: the major must be one this library supports
(``SUPPORTED_MAJORS``), else the batch is rejected; a minor newer than the one this library
knows is accepted, its unknown fields dropped (minors only ever add optional fields).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError

from execlog_schema.errors import BatchRejected
from execlog_schema.limits import MAX_RECORDS_PER_BATCH
from execlog_schema.models import (
    SCHEMA_MAJOR,
    SCHEMA_MINOR,
    SCHEMA_VERSION,
    SPAN_ID_LEN,
    TRACE_ID_LEN,
    LogBatch,
)

SUPPORTED_MAJORS: Final[Mapping[int, tuple[int, type[LogBatch]]]] = {
    SCHEMA_MAJOR: (SCHEMA_MINOR, LogBatch),
}
"""major -> (newest minor this library knows, model that validates it)."""

_VERSION_RE: Final = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")
_MAX_REASONS: Final = 3
_ORJSON_OPTS: Final = orjson.OPT_UTC_Z

_FRIENDLY: Final[dict[str, str]] = {
    "string_pattern_mismatch": "contains a NUL character (U+0000), which PostgreSQL cannot store",
    "string_unicode": "contains a lone surrogate (invalid Unicode)",
    "extra_forbidden": f"unknown field (not in schema_version {SCHEMA_VERSION})",
    "missing": "missing required field",
}

_TRACE_FIELD_REASONS: Final[dict[str, str]] = {
    "trace_id": f"must be {TRACE_ID_LEN} lowercase hex digits, not all zero (W3C trace-id)",
    "span_id": f"must be {SPAN_ID_LEN} lowercase hex digits, not all zero (W3C parent-id)",
}
_TRACE_FIELD_ERRORS: Final = frozenset(
    {"string_pattern_mismatch", "string_too_short", "string_too_long"}
)


def _supported_text() -> str:
    return ", ".join(str(m) for m in sorted(SUPPORTED_MAJORS))


def encode_batch(batch: LogBatch) -> bytes:
    """Compact UTF-8 JSON of a batch (orjson; datetimes as RFC 3339 with ``Z``)."""
    fields = batch.__dict__
    return orjson.dumps(
        {
            "schema_version": fields["schema_version"],
            "batch_id": fields["batch_id"],
            "producer": fields["producer"].__dict__,
            "sent_at": fields["sent_at"],
            "records": [record.__dict__ for record in fields["records"]],
        },
        option=_ORJSON_OPTS,
    )


def batch_to_wire(batch: LogBatch) -> dict[str, Any]:
    """The batch as a JSON-ready dict (only str/int/float/bool/None/list/dict inside)."""
    wire: dict[str, Any] = orjson.loads(encode_batch(batch))
    return wire


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _peek_batch_id(data: Mapping[Any, Any]) -> UUID | None:
    value = data.get("batch_id")
    if isinstance(value, UUID):
        return value
    if isinstance(value, str) and len(value) <= 64:
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def parse_version(value: object) -> tuple[int, int]:
    """``(major, minor)`` of a ``schema_version`` value; ``BatchRejected`` if it is malformed."""
    if not isinstance(value, str):
        raise BatchRejected(
            f"schema_version must be a string 'MAJOR.MINOR', got {_kind(value)} {_short(value)}"
        )
    match = _VERSION_RE.fullmatch(value)
    if match is None:
        raise BatchRejected(
            f"malformed schema_version {_short(value)} (expected 'MAJOR.MINOR', "
            f"e.g. '{SCHEMA_VERSION}')"
        )
    return int(match.group(1)), int(match.group(2))


def _keep_known(value: object, model: type[BaseModel]) -> object:
    if not isinstance(value, dict):
        return value
    known = model.model_fields
    return {k: v for k, v in value.items() if k in known}


def _drop_unknown_fields(data: dict[str, Any], model: type[LogBatch]) -> dict[str, Any]:
    record_model = model.model_fields["records"].annotation
    args = getattr(record_model, "__args__", ())
    record_cls = args[0] if args else None
    producer_cls = model.model_fields["producer"].annotation
    out: dict[str, Any] = {k: v for k, v in data.items() if k in model.model_fields}
    if isinstance(producer_cls, type) and issubclass(producer_cls, BaseModel):
        out["producer"] = _keep_known(out.get("producer"), producer_cls)
    records = out.get("records")
    if (
        isinstance(records, list)
        and isinstance(record_cls, type)
        and issubclass(record_cls, BaseModel)
    ):
        out["records"] = [_keep_known(r, record_cls) for r in records]
    if "producer" not in data:
        out.pop("producer", None)
    return out


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def reason_from_validation_error(exc: ValidationError) -> str:
    """One line naming the first few failing fields, e.g. ``records.3.message: ...``."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for error in errors[:_MAX_REASONS]:
        loc = tuple(error["loc"])
        friendly = _FRIENDLY.get(error["type"])
        if error["type"] == "string_pattern_mismatch" and loc[-1:] == ("schema_version",):
            friendly = None
        if error["type"] in _TRACE_FIELD_ERRORS and loc and loc[-1] in _TRACE_FIELD_REASONS:
            friendly = _TRACE_FIELD_REASONS[str(loc[-1])]
        where = _loc(loc)
        text = friendly or error["msg"]
        parts.append(f"{where}: {text}" if where else text)
    more = len(errors) - _MAX_REASONS
    suffix = f" (+{more} more error{'s' if more > 1 else ''})" if more > 0 else ""
    return "invalid batch: " + "; ".join(parts) + suffix


def _decode(raw: object) -> tuple[LogBatch, UUID | None]:
    data: object = raw
    if isinstance(raw, LogBatch):
        data = batch_to_wire(raw)
    elif isinstance(raw, bytes | bytearray | memoryview):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BatchRejected(f"batch is not valid JSON: {exc}") from None
    elif isinstance(raw, str):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BatchRejected(
                f"batch must be a JSON object, got string that is not JSON text either ({exc})"
            ) from None
    if not isinstance(data, dict):
        raise BatchRejected(f"batch must be a JSON object, got {_kind(data)}")
    batch_id = _peek_batch_id(data)
    if "schema_version" not in data:
        raise BatchRejected("missing schema_version", batch_id)
    major, minor = parse_version(data["schema_version"])
    supported = SUPPORTED_MAJORS.get(major)
    if supported is None:
        raise BatchRejected(
            f"unsupported schema_version '{data['schema_version']}' "
            f"(supported major: {_supported_text()})",
            batch_id,
        )
    known_minor, model = supported
    records = data.get("records")
    if isinstance(records, list) and len(records) > MAX_RECORDS_PER_BATCH:
        raise BatchRejected(
            f"too many records: {len(records)} (max {MAX_RECORDS_PER_BATCH})", batch_id
        )
    if minor > known_minor:
        data = _drop_unknown_fields(data, model)
    try:
        return model.model_validate(data), batch_id
    except ValidationError as exc:
        raise BatchRejected(reason_from_validation_error(exc), batch_id) from None


def decode_batch(raw: object) -> LogBatch:
    """Validate ``raw``: the parsed JSON (a dict, as the task receives it), JSON text
    (bytes/bytearray/memoryview/str), or a ``LogBatch`` (re-validated from its wire form).

    Returns the validated ``LogBatch`` (datetimes in UTC). Raises ``BatchRejected`` for any
    input that breaks the contract and never any other exception.
    """
    batch_id: UUID | None = None
    try:
        if isinstance(raw, dict):
            batch_id = _peek_batch_id(raw)
        return _decode(raw)[0]
    except BatchRejected as exc:
        if exc.batch_id is None and batch_id is not None:
            raise BatchRejected(exc.reason, batch_id) from None
        raise
    except Exception as exc:
        raise BatchRejected(
            f"batch could not be validated: {type(exc).__name__}: {str(exc)[:200]}",
            batch_id,
        ) from None


__all__ = [
    "SUPPORTED_MAJORS",
    "BatchRejected",
    "batch_to_wire",
    "decode_batch",
    "encode_batch",
    "parse_version",
    "reason_from_validation_error",
]
