"""Pydantic v2 models of the log payload contract, schema version 1.x (1.1 added the optional
trace context of a record, ``trace_id`` and ``span_id``).

``LogBatch`` is what travels on the wire (as a JSON object); it wraps 1 to
``MAX_RECORDS_PER_BATCH`` ``LogRecord``\\ s. Every limit of ``execlog_schema.limits`` and the
NUL/surrogate rule of ``execlog_schema.sanitize`` is enforced here, so any validation path
(``codec.decode_batch``, a FastAPI body, ``model_validate``) applies the same contract.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from uuid import UUID

import orjson
from pydantic import (
    UUID7,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from execlog_schema.limits import (
    MAX_ATTEMPT,
    MAX_COMPONENT_LEN,
    MAX_HOST_LEN,
    MAX_MESSAGE_CHARS,
    MAX_NODE_ID_LEN,
    MAX_PAYLOAD_BYTES,
    MAX_PID,
    MAX_RECORDS_PER_BATCH,
    MAX_SERVICE_LEN,
    MAX_SERVICE_VERSION_LEN,
)
from execlog_schema.sanitize import find_bad_text

SCHEMA_VERSION: Final = "1.1"
"""Version of the wire format this library produces ("MAJOR.MINOR")."""
SCHEMA_MAJOR: Final = 1
SCHEMA_MINOR: Final = 1

TEXT_PATTERN: Final = r"^[^\x00]*$"
"""Validation pattern of every text field (pydantic-core also rejects lone surrogates)."""
TEXT_JSON_PATTERN: Final = r"^[^\x00\ud800-\udfff]*$"
"""The same rule as published in the JSON Schema (no NUL, no surrogate code point)."""
UUID_JSON_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
UUID7_JSON_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
TRACE_ID_LEN: Final = 32
SPAN_ID_LEN: Final = 16
HEX_NOT_ZERO_PATTERN: Final = r"^0*[1-9a-f][0-9a-f]*$"
"""Lowercase hex with at least one non-zero digit (W3C trace-context ids; length set apart)."""
_NUL_ESCAPE: Final = b"\\u0000"
_dumps: Final = orjson.dumps
SCHEMA_VERSION_PATTERN: Final = rf"^{SCHEMA_MAJOR}\.(0|[1-9][0-9]{{0,8}})$"


class _JsonSchemaPatch:
    """Annotation that overrides keys of the generated JSON Schema of the annotated type."""

    def __init__(self, **updates: Any) -> None:
        self.updates = updates

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.updates)
        return schema

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.updates.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _JsonSchemaPatch) and other.updates == self.updates


_TEXT_JSON = _JsonSchemaPatch(pattern=TEXT_JSON_PATTERN)

NodeId = Annotated[
    str, Field(min_length=1, max_length=MAX_NODE_ID_LEN, pattern=TEXT_PATTERN), _TEXT_JSON
]
Component = Annotated[
    str, Field(min_length=1, max_length=MAX_COMPONENT_LEN, pattern=TEXT_PATTERN), _TEXT_JSON
]
Message = Annotated[str, Field(max_length=MAX_MESSAGE_CHARS, pattern=TEXT_PATTERN), _TEXT_JSON]
RecordId = Annotated[
    UUID7, _JsonSchemaPatch(type="string", format="uuid", pattern=UUID7_JSON_PATTERN)
]
AnyUuid = Annotated[UUID, _JsonSchemaPatch(type="string", format="uuid", pattern=UUID_JSON_PATTERN)]
TraceId = Annotated[
    str,
    Field(
        min_length=TRACE_ID_LEN,
        max_length=TRACE_ID_LEN,
        pattern=HEX_NOT_ZERO_PATTERN,
    ),
]
SpanId = Annotated[
    str,
    Field(
        min_length=SPAN_ID_LEN,
        max_length=SPAN_ID_LEN,
        pattern=HEX_NOT_ZERO_PATTERN,
    ),
]


class LogLevel(enum.StrEnum):
    """Severity of a record (the stdlib ``logging`` names; upper case on the wire)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


_MODEL_CONFIG = ConfigDict(
    extra="forbid",
    frozen=True,
    validate_default=False,
)


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


class LogRecord(BaseModel):
    """One execution log line.

    Field types, lengths, the text rule and ``attempt`` bounds are checked by pydantic-core
    wherever a record is validated. The checks that need Python (payload encoded size and NUL in
    payload, ``created_at`` normalized to UTC, distinct ids) run once per batch in
    ``LogBatch`` (one loop instead of two Python calls per record); ``check_record`` applies
    them to a lone record.
    """

    model_config = _MODEL_CONFIG

    id: RecordId = Field(
        description=(
            "Record id, a time-ordered UUIDv7 made by the producer when the record is created "
            "(the record has its id before any database write; redeliveries reuse it, so "
            "writes are idempotent on it)."
        )
    )
    execution_id: AnyUuid = Field(description="Workflow execution the record belongs to.")
    workflow_id: AnyUuid | None = Field(
        default=None, description="Workflow of that execution, when the producer knows it."
    )
    node_id: NodeId | None = Field(
        default=None,
        description=f"Workflow node that logged, if any (1 to {MAX_NODE_ID_LEN} chars).",
    )
    component: Component = Field(
        description=(
            "Who logged: runner, retry_service, workflow_brain, ... "
            f"(1 to {MAX_COMPONENT_LEN} chars)."
        )
    )
    level: LogLevel = Field(description="Severity.")
    message: Message = Field(
        description=(
            f"Log text, at most {MAX_MESSAGE_CHARS} chars (code points); producers cut longer "
            "text and end it with a visible truncation marker."
        )
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Structured context, a JSON object whose compact UTF-8 JSON encoding is at most "
            f"{MAX_PAYLOAD_BYTES} bytes; no NUL or lone surrogate in any key or string."
        ),
    )
    created_at: AwareDatetime = Field(
        description="When the record was made (RFC 3339 with offset; normalized to UTC)."
    )
    attempt: int | None = Field(
        default=None,
        ge=0,
        le=MAX_ATTEMPT,
        strict=True,
        description="Attempt number of the node/execution that logged, when it applies.",
    )
    trace_id: TraceId | None = Field(
        default=None,
        description=(
            "W3C trace-context trace-id of the span active when the record was made: "
            f"{TRACE_ID_LEN} lowercase hex digits, not all zero (schema 1.1)."
        ),
    )
    span_id: SpanId | None = Field(
        default=None,
        description=(
            "W3C trace-context parent-id (span id) of that span: "
            f"{SPAN_ID_LEN} lowercase hex digits, not all zero (schema 1.1)."
        ),
    )


def check_payload(payload: dict[str, Any], loc: str = "payload") -> int:
    """Check a payload against the contract; return its encoded size in bytes.

    Raises ``PydanticCustomError`` (a ``ValueError``) whose message starts with ``loc``.
    """
    try:
        encoded = _dumps(payload)
    except (TypeError, orjson.JSONEncodeError) as exc:
        if "surrogates" in str(exc):
            raise PydanticCustomError(
                "payload_bad_text",
                "{loc}: holds a lone surrogate (invalid Unicode): {error}",
                {"loc": loc, "error": str(exc)},
            ) from None
        raise PydanticCustomError(
            "payload_not_json",
            "{loc}: not encodable as JSON: {error}",
            {"loc": loc, "error": str(exc)},
        ) from None
    size = len(encoded)
    if size > MAX_PAYLOAD_BYTES:
        raise PydanticCustomError(
            "payload_too_large",
            "{loc}: {size} bytes encoded, over the limit of {limit} bytes",
            {"loc": loc, "size": size, "limit": MAX_PAYLOAD_BYTES},
        )
    if _NUL_ESCAPE in encoded:
        where = find_bad_text(payload)
        if where is not None:
            raise PydanticCustomError(
                "payload_bad_text",
                "{loc}: holds a NUL character (U+0000) at {where}, which PostgreSQL cannot store",
                {"loc": loc, "where": where},
            )
    return size


def check_record(record: LogRecord, loc: str = "record") -> LogRecord:
    """Apply the batch-level checks to one record: payload size / NUL (raises
    ``PydanticCustomError``) and ``created_at`` in UTC (a normalized copy is returned)."""
    check_payload(record.payload, f"{loc}.payload")
    created_at = record.created_at
    if created_at.tzinfo is UTC:
        return record
    return record.model_copy(update={"created_at": created_at.astimezone(UTC)})


def _check_records(records: list[LogRecord]) -> None:
    payloads = [record.__dict__["payload"] for record in records]
    try:
        encoded = _dumps(payloads)
    except (TypeError, orjson.JSONEncodeError):
        encoded = b""
    if not encoded or len(encoded) > MAX_PAYLOAD_BYTES or _NUL_ESCAPE in encoded:
        for index, payload in enumerate(payloads):
            if payload:
                check_payload(payload, f"records.{index}.payload")
    for record in records:
        fields = record.__dict__
        created_at = fields["created_at"]
        if created_at.tzinfo is not UTC:
            fields["created_at"] = created_at.astimezone(UTC)
    if len({record.id for record in records}) != len(records):
        seen: set[UUID] = set()
        for index, record in enumerate(records):
            if record.id in seen:
                raise PydanticCustomError(
                    "duplicate_record_id",
                    "records.{index}: duplicate record id {id}",
                    {"id": str(record.id), "index": index},
                )
            seen.add(record.id)


class Producer(BaseModel):
    """Who sent a batch."""

    model_config = _MODEL_CONFIG

    service: Annotated[
        str, Field(min_length=1, max_length=MAX_SERVICE_LEN, pattern=TEXT_PATTERN), _TEXT_JSON
    ] = Field(description="Name of the producing service, e.g. 'execlog-api'.")
    version: Annotated[
        str,
        Field(min_length=1, max_length=MAX_SERVICE_VERSION_LEN, pattern=TEXT_PATTERN),
        _TEXT_JSON,
    ] = Field(description="Version of the producing service.")
    host: Annotated[str, Field(max_length=MAX_HOST_LEN, pattern=TEXT_PATTERN), _TEXT_JSON] = Field(
        description="Host name of the producing process."
    )
    pid: int = Field(
        ge=0, le=MAX_PID, strict=True, description="Process id of the producing process."
    )


class LogBatch(BaseModel):
    """The envelope sent to the ``logs`` queue: the task's one positional argument."""

    model_config = ConfigDict(
        **_MODEL_CONFIG,
        title="LogBatch",
        json_schema_extra={"x-schema-version": SCHEMA_VERSION},
    )

    schema_version: Annotated[str, Field(pattern=SCHEMA_VERSION_PATTERN)] = Field(
        description=(
            f"Wire format version 'MAJOR.MINOR'; this schema describes major {SCHEMA_MAJOR} "
            f"(current minor {SCHEMA_MINOR}). Consumers accept any minor of a major they support."
        ),
        examples=[SCHEMA_VERSION],
    )
    batch_id: AnyUuid = Field(description="Id of this batch (the producer makes a UUIDv7).")
    producer: Producer = Field(description="Who sent the batch.")
    sent_at: AwareDatetime = Field(
        description="When the batch was built for sending (RFC 3339 with offset; UTC)."
    )
    records: list[LogRecord] = Field(
        min_length=1,
        max_length=MAX_RECORDS_PER_BATCH,
        description=f"1 to {MAX_RECORDS_PER_BATCH} records, with distinct ids.",
    )

    @model_validator(mode="after")
    def _check(self) -> LogBatch:
        fields = self.__dict__
        fields["sent_at"] = _as_utc(fields["sent_at"])
        _check_records(fields["records"])
        return self


__all__ = [
    "SCHEMA_MAJOR",
    "SCHEMA_MINOR",
    "SCHEMA_VERSION",
    "SPAN_ID_LEN",
    "TRACE_ID_LEN",
    "LogBatch",
    "LogLevel",
    "LogRecord",
    "Producer",
    "check_payload",
    "check_record",
]
