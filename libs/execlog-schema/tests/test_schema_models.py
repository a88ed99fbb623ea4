"""Field-by-field behaviour of the pydantic models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from execlog_schema.builder import uuid7
from execlog_schema.limits import MAX_PAYLOAD_BYTES, MAX_RECORDS_PER_BATCH
from execlog_schema.models import (
    SCHEMA_MAJOR,
    SCHEMA_MINOR,
    SCHEMA_VERSION,
    LogBatch,
    LogLevel,
    LogRecord,
    check_payload,
    check_record,
)


def _record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": str(uuid7()),
        "execution_id": str(uuid4()),
        "component": "runner",
        "level": "INFO",
        "message": "m",
        "created_at": "2025-01-01T00:00:00Z",
    }
    base.update(fields)
    return base


def _batch(*records: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "batch_id": str(uuid7()),
        "producer": {"service": "s", "version": "1", "host": "h", "pid": 1},
        "sent_at": "2025-01-01T00:00:01+02:00",
        "records": list(records) or [_record()],
    }
    base.update(fields)
    return base


def test_version_constants() -> None:
    assert SCHEMA_VERSION == f"{SCHEMA_MAJOR}.{SCHEMA_MINOR}" == "1.1"


def test_levels() -> None:
    assert [level.value for level in LogLevel] == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    assert LogLevel("ERROR") is LogLevel.ERROR


def test_record_defaults() -> None:
    record = LogRecord.model_validate(_record())
    assert record.workflow_id is None
    assert record.node_id is None
    assert record.attempt is None
    assert record.payload == {}


def test_batch_normalizes_timestamps_to_utc() -> None:
    batch = LogBatch.model_validate(_batch(_record(created_at="2025-01-01T05:30:00+05:30")))
    assert batch.sent_at.tzinfo is UTC
    assert batch.sent_at.hour == 22
    assert batch.records[0].created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert batch.records[0].created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"id": str(uuid4())}, "UUID version 7"),
        ({"created_at": "2025-01-01T00:00:00"}, "timezone"),
        ({"level": "info"}, "level"),
        ({"attempt": "1"}, "attempt"),
        ({"message": "a\x00"}, "pattern"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_record_field_rules(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        LogRecord.model_validate(_record(**fields))


def test_batch_checks_payload_and_duplicates() -> None:
    big = _record(payload={"b": "x" * MAX_PAYLOAD_BYTES})
    with pytest.raises(ValidationError, match="over the limit"):
        LogBatch.model_validate(_batch(big))
    same = _record()
    with pytest.raises(ValidationError, match="duplicate record id"):
        LogBatch.model_validate(_batch(same, same))
    with pytest.raises(ValidationError, match="at most"):
        LogBatch.model_validate(_batch(*[_record() for _ in range(MAX_RECORDS_PER_BATCH + 1)]))


def test_check_payload_and_check_record() -> None:
    assert check_payload({"a": 1}) == len(b'{"a":1}')
    with pytest.raises(ValueError, match=r"rec\.payload: holds a NUL"):
        check_payload({"a": "\x00"}, "rec.payload")
    record = LogRecord.model_validate(_record(created_at="2025-01-01T01:00:00+01:00"))
    checked = check_record(record)
    assert checked.created_at.tzinfo is UTC
    assert checked.created_at == record.created_at
    assert check_record(checked) is checked


def test_models_are_frozen() -> None:
    batch = LogBatch.model_validate(_batch())
    with pytest.raises(ValidationError):
        batch.schema_version = "1.1"
