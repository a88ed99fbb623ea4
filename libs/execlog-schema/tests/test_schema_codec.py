"""encode / decode, rejection reasons and version handling of the codec."""

from __future__ import annotations

import pickle
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import (
    SUPPORTED_MAJORS,
    batch_to_wire,
    decode_batch,
    encode_batch,
    parse_version,
)
from execlog_schema.errors import BatchRejected
from execlog_schema.models import SCHEMA_MAJOR, LogBatch, LogLevel


def _batch(count: int = 3) -> LogBatch:
    execution = uuid4()
    return new_batch(
        [
            new_record(
                execution_id=execution,
                level=LogLevel.WARNING,
                message=f"m{i}",
                component="runner",
                node_id="n",
                payload={"i": i, "nested": {"l": [1, None, True]}},
                workflow_id=uuid4(),
                attempt=i,
            )
            for i in range(count)
        ],
        make_producer("execlog-api", "0.1.0"),
    )


def _is_json_native(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_native(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_json_native(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_encode_decode_round_trip() -> None:
    batch = _batch()
    raw = encode_batch(batch)
    assert isinstance(raw, bytes)
    assert decode_batch(raw) == batch
    assert decode_batch(raw.decode()) == batch
    assert decode_batch(memoryview(raw)) == batch


def test_batch_to_wire_is_plain_json() -> None:
    batch = _batch()
    wire = batch_to_wire(batch)
    assert _is_json_native(wire)
    assert wire["schema_version"] == "1.1"
    assert wire["records"][0]["level"] == "WARNING"
    assert wire["sent_at"].endswith("Z")
    assert wire["records"][0]["created_at"].endswith("Z")
    assert wire == orjson.loads(encode_batch(batch))
    assert decode_batch(wire) == batch


def test_decoded_batch_reencodes_identically() -> None:
    raw = encode_batch(_batch())
    assert encode_batch(decode_batch(raw)) == raw


def test_a_constructed_invalid_batch_is_revalidated() -> None:
    batch = _batch(1)
    broken = batch.model_copy(update={"schema_version": "9.0"})
    with pytest.raises(BatchRejected, match="unsupported schema_version '9.0'"):
        decode_batch(broken)


def _wire(**changes: Any) -> dict[str, Any]:
    wire = batch_to_wire(_batch(2))
    wire.update(changes)
    return wire


def test_unsupported_major_reason_and_batch_id() -> None:
    wire = _wire(schema_version="2.0")
    with pytest.raises(BatchRejected) as info:
        decode_batch(wire)
    assert info.value.reason == "unsupported schema_version '2.0' (supported major: 1)"
    assert info.value.batch_id == UUID(wire["batch_id"])
    assert str(info.value).endswith(f"(batch_id={wire['batch_id']})")


def test_newer_minor_is_accepted_and_unknown_fields_dropped() -> None:
    wire = _wire(schema_version=f"{SCHEMA_MAJOR}.42", future={"x": 1})
    wire["producer"]["zone"] = "eu"
    wire["records"][0]["baggage"] = "t"
    batch = decode_batch(wire)
    assert batch.schema_version == "1.42"
    assert "baggage" not in batch.records[0].model_dump()
    assert encode_batch(batch)


def test_unknown_fields_at_current_minor_are_rejected() -> None:
    wire = _wire()
    wire["records"][1]["baggage"] = "t"
    with pytest.raises(BatchRejected, match=r"records\.1\.baggage: unknown field"):
        decode_batch(wire)


def test_reason_lists_a_few_errors_and_counts_the_rest() -> None:
    wire = _wire()
    wire["records"] = [dict(r, level="NOPE", message=1) for r in wire["records"]]
    with pytest.raises(BatchRejected) as info:
        decode_batch(wire)
    reason = info.value.reason
    assert reason.startswith("invalid batch: records.0.level:")
    assert "records.0.message" in reason
    assert "(+1 more error)" in reason


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (None, "got null"),
        (42, "got number"),
        (True, "got boolean"),
        ([], "got array"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"a": "\\ud800"}', "not valid JSON"),
        ("not json", "got string that is not JSON text"),
        (object(), "got object"),
        ({}, "missing schema_version"),
        ({"schema_version": None}, "must be a string"),
        ({"schema_version": "1.x"}, "malformed schema_version '1.x'"),
        ({"schema_version": "01.0"}, "malformed"),
        ({"schema_version": "1.0" * 40}, "malformed"),
        ({"schema_version": "1.0", "records": [{}] * 10_000}, "too many records: 10000"),
        ({"schema_version": "1.0", 1: 2}, "invalid batch"),
        ({"schema_version": "1.0", "batch_id": 5}, "batch_id"),
    ],
)
def test_any_bad_input_is_rejected_with_a_reason(raw: object, needle: str) -> None:
    with pytest.raises(BatchRejected) as info:
        decode_batch(raw)
    assert needle in info.value.reason


def test_unexpected_internal_errors_become_rejections(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: object) -> LogBatch:
        raise RuntimeError("kaput")

    monkeypatch.setattr(LogBatch, "model_validate", boom)
    wire = _wire()
    with pytest.raises(BatchRejected) as info:
        decode_batch(wire)
    assert info.value.reason == "batch could not be validated: RuntimeError: kaput"
    assert info.value.batch_id == UUID(wire["batch_id"])


def test_parse_version() -> None:
    assert parse_version("1.0") == (1, 0)
    assert parse_version("12.345") == (12, 345)
    with pytest.raises(BatchRejected):
        parse_version("1.0.0")


def test_supported_majors() -> None:
    assert SUPPORTED_MAJORS[SCHEMA_MAJOR] == (1, LogBatch)


def test_batch_rejected_pickles_and_prints() -> None:
    exc = BatchRejected("why", UUID(int=1))
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301 (own data)
    assert (again.reason, again.batch_id) == ("why", UUID(int=1))
    assert repr(exc) == f"BatchRejected('why', batch_id={UUID(int=1)!r})"
    assert str(BatchRejected("no id")) == "no id"


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def test_a_1_0_batch_without_trace_fields_is_accepted() -> None:
    wire = batch_to_wire(_batch())
    wire["schema_version"] = "1.0"
    for record in wire["records"]:
        del record["trace_id"], record["span_id"]
    batch = decode_batch(wire)
    assert batch.schema_version == "1.0"
    assert {(r.trace_id, r.span_id) for r in batch.records} == {(None, None)}


def test_a_1_1_batch_carries_trace_fields() -> None:
    wire = batch_to_wire(_batch())
    assert wire["schema_version"] == "1.1"
    wire["records"][0].update(trace_id=TRACE_ID, span_id=SPAN_ID)
    batch = decode_batch(wire)
    assert (batch.records[0].trace_id, batch.records[0].span_id) == (TRACE_ID, SPAN_ID)
    assert batch.records[1].trace_id is None
    assert decode_batch(encode_batch(batch)) == batch


def test_trace_fields_stay_typed_in_a_newer_minor() -> None:
    wire = batch_to_wire(_batch())
    wire["schema_version"] = f"{SCHEMA_MAJOR}.9"
    wire["records"][0]["span_id"] = SPAN_ID.upper()
    with pytest.raises(BatchRejected, match=r"records\.0\.span_id: must be 16 lowercase hex"):
        decode_batch(wire)
