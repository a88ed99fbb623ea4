"""Property tests across the real producer and consumer code.

* Any record the API's ExecutionLogger returns reaches the worker's ingest, through the real
  kombu JSON codec, unchanged.
* Random junk handed to the worker's ingest never raises: it is rejected with a reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import serialization

from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import LoggerConfig
from execlog_schema.codec import batch_to_wire
from execlog_schema.limits import MAX_ATTEMPT, MAX_MESSAGE_CHARS
from execlog_schema.models import LogBatch, LogLevel, LogRecord
from execlog_schema.wire import register_kombu_json
from execlog_worker.ingest.batch import ingest

pytestmark = pytest.mark.timeout(120)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | text
    | st.datetimes(timezones=st.just(UTC))
    | st.uuids(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
log_calls = st.fixed_dictionaries(
    {
        "level": st.sampled_from(list(LogLevel))
        | st.sampled_from(["debug", "Info", "WARN", "fatal"])
        | st.integers(0, 60),
        "message": text
        | st.integers(MAX_MESSAGE_CHARS - 1, MAX_MESSAGE_CHARS + 1).map("ü".__mul__),
    },
    optional={
        "node_id": st.none() | text,
        "component": st.none() | text,
        "payload": st.none() | st.dictionaries(text, json_value, max_size=4),
        "workflow_id": st.none() | st.uuids(),
        "attempt": st.none() | st.integers(0, MAX_ATTEMPT),
    },
)


def _through_the_wire(batch: LogBatch) -> Any:
    register_kombu_json()
    dumps: Callable[..., tuple[str, str, str]] = serialization.dumps
    loads: Callable[..., Any] = serialization.loads
    body: tuple[Any, ...] = (
        [batch_to_wire(batch)],
        {},
        {"callbacks": None, "errbacks": None, "chain": None},
    )
    content_type, encoding, data = dumps(body, serializer="json")
    args, _kwargs, _embed = loads(data, content_type, encoding, accept={"application/json"})
    return args[0]


@SETTINGS
@given(calls=st.lists(log_calls, min_size=1, max_size=4))
def test_contract_logged_records_reach_the_worker_unchanged(
    calls: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    recording_sender: Callable[..., Any],
    memory_writer: Any,
    log_through: Callable[..., list[LogRecord]],
) -> None:
    sender = recording_sender("broker")
    spool = DiskSpool(tmp_path_factory.mktemp("spool"), file_max_bytes=1 << 20, max_bytes=1 << 30)
    returned = log_through(
        lambda: DeliveryChain(sender, spool, None), calls, LoggerConfig(buffer_size=1000)
    )
    assert sender.batches
    received = []
    for batch in sender.batches:
        result = asyncio.run(ingest(_through_the_wire(batch), memory_writer, source="contract"))
        assert result.status == "written", result.reason
        received.extend(memory_writer.batches[-1].records)
    assert received == returned


batch_like = st.fixed_dictionaries(
    {},
    optional={
        "schema_version": st.sampled_from(["1.0", "1.5", "2.0", ""]) | json_value,
        "batch_id": st.uuids().map(str) | json_value,
        "producer": st.fixed_dictionaries(
            {"service": text, "version": text, "host": text, "pid": st.integers(-5, 5)}
        )
        | json_value,
        "sent_at": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | json_value,
        "records": st.lists(st.dictionaries(text, json_value, max_size=6) | json_value, max_size=3),
        "extra": json_value,
    },
)


@SETTINGS
@given(raw=json_value | batch_like | st.binary(max_size=80) | text)
def test_contract_junk_never_crashes_the_worker(raw: Any, memory_writer: Any) -> None:
    result = asyncio.run(ingest(raw, memory_writer, source="contract"))
    assert result.status in {"rejected", "written"}
    if result.status == "rejected":
        assert result.reason
