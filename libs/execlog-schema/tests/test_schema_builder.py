"""Producer fast path: records and batches built without validation are valid."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import orjson
import pytest

from execlog_schema.builder import (
    as_level,
    as_trace_hex,
    clean_payload,
    make_producer,
    new_batch,
    new_batches,
    new_record,
    uuid7,
)
from execlog_schema.codec import decode_batch, encode_batch
from execlog_schema.limits import (
    MAX_COMPONENT_LEN,
    MAX_MESSAGE_CHARS,
    MAX_NODE_ID_LEN,
    MAX_PAYLOAD_BYTES,
    MAX_RECORDS_PER_BATCH,
    PAYLOAD_TRUNCATED_KEY,
)
from execlog_schema.models import SCHEMA_VERSION, LogBatch, LogLevel, LogRecord

EXECUTION = uuid4()


def _record(**overrides: object) -> LogRecord:
    kwargs: dict[str, object] = {
        "execution_id": EXECUTION,
        "level": LogLevel.INFO,
        "message": "hello",
        "component": "runner",
    }
    kwargs.update(overrides)
    return new_record(**kwargs)  # type: ignore[arg-type]


def _roundtrip(*records: LogRecord) -> LogBatch:
    batch = new_batch(list(records), make_producer("execlog-api", "0.1.0"))
    return decode_batch(encode_batch(batch))


def test_uuid7_is_a_stdlib_uuid_version_7_and_time_ordered() -> None:
    ids = [uuid7() for _ in range(1000)]
    assert all(type(u) is UUID and u.version == 7 for u in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert UUID(str(ids[0])) == ids[0]
    assert hash(ids[0]) == hash(UUID(str(ids[0])))
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert abs((ids[-1].int >> 80) - now_ms) < 5_000


def test_new_record_fields() -> None:
    before = datetime.now(UTC)
    workflow = uuid4()
    record = _record(
        workflow_id=str(workflow),
        node_id="n1",
        payload={"a": 1},
        attempt=2,
        execution_id=str(EXECUTION),
    )
    assert record.id.version == 7
    assert record.execution_id == EXECUTION
    assert record.workflow_id == workflow
    assert record.created_at.tzinfo is UTC
    assert before <= record.created_at <= datetime.now(UTC)
    assert (record.node_id, record.component, record.level, record.message) == (
        "n1",
        "runner",
        LogLevel.INFO,
        "hello",
    )
    assert record.payload == {"a": 1}
    assert record.attempt == 2
    assert _roundtrip(record).records == [record]


def test_new_record_sanitizes_and_bounds_every_text() -> None:
    record = _record(
        message="bad\x00\ud800" + "m" * (MAX_MESSAGE_CHARS + 5),
        component="c\x00" * MAX_COMPONENT_LEN,
        node_id="n\ud800" * MAX_NODE_ID_LEN,
        payload={"k\x00": "v\udc80"},
    )
    assert record.message.startswith("bad\ufffd\ufffd")
    assert len(record.message) == MAX_MESSAGE_CHARS
    assert "truncated" in record.message
    assert len(record.component) == MAX_COMPONENT_LEN
    assert "\x00" not in record.component
    assert record.node_id is not None
    assert len(record.node_id) == MAX_NODE_ID_LEN
    assert record.payload == {"k\ufffd": "v\ufffd"}
    assert _roundtrip(record).records == [record]


def test_new_record_empty_identifiers_fall_back() -> None:
    record = _record(component="", node_id="")
    assert record.component == "unknown"
    assert record.node_id is None


def test_new_record_payload_is_a_copy() -> None:
    payload: dict[str, object] = {"list": [1]}
    record = _record(payload=payload)
    payload["list"] = [2]
    assert record.payload == {"list": [1]}


def test_oversize_payload_is_replaced_by_a_marker_object() -> None:
    record = _record(payload={"blob": "x" * (MAX_PAYLOAD_BYTES + 1)})
    assert record.payload[PAYLOAD_TRUNCATED_KEY] is True
    assert record.payload["original_bytes"] == MAX_PAYLOAD_BYTES + 12
    assert record.payload["preview"].startswith('{"blob":"xxx')
    assert _roundtrip(record).records == [record]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, {}),
        ({}, {}),
        ([1, 2], {"value": [1, 2]}),
        ("text", {"value": "text"}),
        ({"s": {1, 2}}, {"s": [1, 2]}),
        ({"n": float("nan")}, {"n": "NaN"}),
        ({1: "int key"}, {"1": "int key"}),
        ({"big": 2**80}, {"big": str(2**80)}),
    ],
)
def test_clean_payload(payload: object, expected: object) -> None:
    out = clean_payload(payload)
    assert out == expected
    assert len(orjson.dumps(out)) <= MAX_PAYLOAD_BYTES


def test_payload_with_literal_backslash_u0000_text_is_kept() -> None:
    assert clean_payload({"t": "\\u0000"}) == {"t": "\\u0000"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (LogLevel.ERROR, LogLevel.ERROR),
        ("warn", LogLevel.WARNING),
        ("Fatal", LogLevel.CRITICAL),
        ("exception", LogLevel.ERROR),
        (logging.INFO, LogLevel.INFO),
        (25, LogLevel.INFO),
        (5, LogLevel.DEBUG),
        (100, LogLevel.CRITICAL),
    ],
)
def test_as_level(given: LogLevel | str | int, expected: LogLevel) -> None:
    assert as_level(given) is expected


@pytest.mark.parametrize("bad", ["TRACE", True, 1.5, None])
def test_as_level_rejects_unknown(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        as_level(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"execution_id": "not-a-uuid"},
        {"execution_id": 12},
        {"workflow_id": "wf"},
        {"attempt": -1},
        {"attempt": True},
        {"attempt": 2**31},
        {"created_at": datetime(2025, 1, 1)},
    ],
)
def test_programmer_errors_raise_at_the_call_site(overrides: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        _record(**overrides)


def test_created_at_is_normalized_to_utc() -> None:
    local = datetime(2025, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    record = _record(created_at=local)
    assert record.created_at == local
    assert record.created_at.tzinfo is UTC


def test_uuid_subclass_ids_become_plain_uuids() -> None:
    class MyUUID(UUID):
        pass

    record = _record(execution_id=MyUUID(int=EXECUTION.int))
    assert type(record.execution_id) is UUID
    assert record.execution_id == EXECUTION


def test_make_producer() -> None:
    producer = make_producer("svc\x00", "1.2.3")
    assert producer.service == "svc\ufffd"
    assert producer.pid == os.getpid()
    assert producer.host


def test_new_batch_envelope_and_duplicate_ids() -> None:
    first = _record()
    batch = new_batch([first, _record(), first], make_producer("execlog-api", "0.1.0"))
    assert batch.schema_version == SCHEMA_VERSION
    assert batch.batch_id.version == 7
    assert batch.sent_at.tzinfo is UTC
    assert [r.id for r in batch.records] == [first.id, batch.records[1].id]
    assert decode_batch(encode_batch(batch)) == batch


@pytest.mark.parametrize("count", [0, MAX_RECORDS_PER_BATCH + 1])
def test_new_batch_rejects_bad_sizes(count: int) -> None:
    records = [_record() for _ in range(count)]
    with pytest.raises(ValueError, match="1 to"):
        new_batch(records, make_producer("execlog-api", "0.1.0"))


def test_new_batches_splits() -> None:
    records = [_record() for _ in range(7)]
    batches = list(new_batches(records, make_producer("a", "1"), max_records=3))
    assert [len(b.records) for b in batches] == [3, 3, 1]
    assert [r for b in batches for r in b.records] == records
    with pytest.raises(ValueError, match="max_records"):
        list(new_batches(records, make_producer("a", "1"), max_records=0))


def test_constructed_models_behave_like_validated_ones() -> None:
    record = _record(payload={"a": [1]})
    validated = LogRecord.model_validate(record.model_dump())
    assert validated == record
    assert record.model_dump(mode="json")["level"] == "INFO"
    assert record.model_copy(update={"message": "x"}).message == "x"
    with pytest.raises(Exception, match="frozen"):
        record.message = "changed"


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def test_trace_context_from_opentelemetry_ints_or_hex_text() -> None:
    from_ints = _record(trace_id=int(TRACE_ID, 16), span_id=int(SPAN_ID, 16))
    from_text = _record(trace_id=TRACE_ID.upper(), span_id=SPAN_ID)
    for record in (from_ints, from_text):
        assert (record.trace_id, record.span_id) == (TRACE_ID, SPAN_ID)
    decoded = _roundtrip(from_ints).records[0]
    assert (decoded.trace_id, decoded.span_id) == (TRACE_ID, SPAN_ID)


def test_no_or_all_zero_trace_context_is_none() -> None:
    for record in (_record(), _record(trace_id=0, span_id="0" * 16)):
        assert (record.trace_id, record.span_id) == (None, None)
    assert _roundtrip(_record()).records[0].trace_id is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("abc", ValueError),
        ("g" * 32, ValueError),
        (1 << 128, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
    ],
)
def test_malformed_trace_id_raises_at_the_call_site(value: object, error: type) -> None:
    with pytest.raises(error):
        as_trace_hex(value, 32)  # type: ignore[arg-type]
