"""Property tests: round trips, and no input at all makes validation crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire, decode_batch, encode_batch
from execlog_schema.errors import BatchRejected
from execlog_schema.limits import MAX_ATTEMPT, MAX_MESSAGE_CHARS
from execlog_schema.models import LogLevel
from execlog_schema.payload import clean_payload, to_json
from execlog_schema.sanitize import clean_text, has_bad_text

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
clean_chars = st.characters(codec="utf-8", exclude_characters="\x00")
long_text = st.integers(MAX_MESSAGE_CHARS - 2, MAX_MESSAGE_CHARS + 2).map(lambda n: "é" * n)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    any_text,
    st.floats(allow_nan=True, allow_infinity=True),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
aware = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.builds(
        timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))
    ),
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    return new_record(
        execution_id=draw(st.uuids()),
        workflow_id=draw(st.none() | st.uuids()),
        level=draw(st.sampled_from(list(LogLevel))),
        message=draw(any_text | long_text),
        component=draw(any_text),
        node_id=draw(st.none() | any_text),
        payload=draw(st.none() | st.dictionaries(any_text, json_value, max_size=5) | json_value),
        attempt=draw(st.none() | st.integers(0, MAX_ATTEMPT)),
        created_at=draw(aware),
    )


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=5), any_text, any_text)
def test_any_built_batch_round_trips_unchanged(recs: list[Any], service: str, version: str) -> None:
    batch = new_batch(recs, make_producer(service, version))
    raw = encode_batch(batch)
    decoded = decode_batch(raw)
    assert decoded == batch
    assert decode_batch(batch_to_wire(batch)) == batch
    assert encode_batch(decoded) == raw


def _text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(alphabet=clean_chars, min_size=min_size, max_size=max_size)


clean_json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text(20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text(10), inner, max_size=4),
    max_leaves=12,
)


uuid7s = st.builds(
    lambda ms, a, b: UUID(int=(ms << 80) | (7 << 76) | (a << 64) | (2 << 62) | b),
    st.integers(0, 2**48 - 1),
    st.integers(0, 2**12 - 1),
    st.integers(0, 2**62 - 1),
)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@st.composite
def wire_records(draw: st.DrawFn) -> dict[str, Any]:
    """Valid records as a third party could send them (any offset, optional keys absent)."""
    record: dict[str, Any] = {
        "id": str(draw(uuid7s)),
        "execution_id": str(draw(st.uuids())),
        "component": draw(_text(64, min_size=1)),
        "level": draw(st.sampled_from([lvl.value for lvl in LogLevel])),
        "message": draw(_text(200)),
        "created_at": _iso(draw(aware)),
    }
    optional = {
        "workflow_id": st.none() | st.uuids().map(str),
        "node_id": st.none() | _text(255, min_size=1),
        "payload": st.dictionaries(_text(10), clean_json_value, max_size=4),
        "attempt": st.none() | st.integers(0, MAX_ATTEMPT),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            record[key] = draw(strategy)
    return record


@SETTINGS
@given(st.lists(wire_records(), min_size=1, max_size=4, unique_by=lambda r: r["id"]), aware)
def test_any_valid_wire_batch_round_trips(recs: list[dict[str, Any]], sent_at: datetime) -> None:
    wire = {
        "schema_version": "1.0",
        "batch_id": "01941f29-a310-7fff-8000-09e2d963964f",
        "producer": {"service": "s", "version": "1", "host": "", "pid": 0},
        "sent_at": _iso(sent_at),
        "records": recs,
    }
    batch = decode_batch(wire)
    assert decode_batch(encode_batch(batch)) == batch
    assert decode_batch(batch_to_wire(batch)) == batch
    for record, given_record in zip(batch.records, recs, strict=True):
        assert record.created_at == datetime.fromisoformat(given_record["created_at"])
        assert record.created_at.tzinfo is UTC
        assert record.message == given_record["message"]
        assert record.payload == given_record.get("payload", {})


@SETTINGS
@given(any_text)
def test_clean_text_always_yields_storable_text(text: str) -> None:
    cleaned = clean_text(text)
    assert not has_bad_text(cleaned)
    cleaned.encode("utf-8")
    assert clean_text(cleaned) == cleaned
    if not has_bad_text(text):
        assert cleaned == text


@SETTINGS
@given(json_value)
def test_to_json_always_encodes(value: Any) -> None:
    cleaned = to_json(value)
    assert "\\u0000" not in orjson.dumps(cleaned).decode().replace("\\\\", "")
    assert to_json(cleaned) == cleaned


@SETTINGS
@given(st.dictionaries(any_text, json_value, max_size=6))
def test_payload_shortcut_gives_what_the_full_conversion_gives(payload: dict[str, Any]) -> None:
    assert repr(clean_payload(payload)) == repr(to_json(payload))  # repr: 1 != 1.0 != True


junk_batch = st.fixed_dictionaries(
    {},
    optional={
        "schema_version": st.sampled_from(["1.0", "1.9", "2.0", "x"]) | json_value,
        "batch_id": st.uuids().map(str) | json_value,
        "producer": json_value,
        "sent_at": st.just("2025-01-01T00:00:00Z") | json_value,
        "records": st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["id", "execution_id", "level", "message", "component", "payload", "x"]
                ),
                json_value,
            )
            | json_value,
            max_size=3,
        )
        | json_value,
    },
)


@SETTINGS
@given(json_value | junk_batch | st.binary(max_size=64))
def test_junk_never_crashes_validation(raw: Any) -> None:
    rejected: BatchRejected | None = None
    try:
        batch = decode_batch(raw)
    except BatchRejected as exc:
        rejected = exc
    else:
        assert batch.records
    if rejected is not None:
        assert rejected.reason
        assert rejected.batch_id is None or isinstance(rejected.batch_id, UUID)
