"""Every batch the real producer emits (broker message, HTTP fallback body, disk spool line)
validates against the committed JSON Schema, checked by jsonschema (not by the models)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from execlog_producer.delivery.celery_sender import BrokerOptions, CelerySender, producer_app
from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.http_fallback import HttpFallback
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import LoggerConfig
from execlog_schema.limits import MAX_MESSAGE_CHARS, MAX_PAYLOAD_BYTES
from execlog_schema.models import SCHEMA_MAJOR, LogLevel, LogRecord
from execlog_schema.wire import CONTENT_TYPE, QUEUE_NAME, TASK_NAME

pytestmark = pytest.mark.timeout(60)


class _Odd:
    def __str__(self) -> str:
        return "odd \x00 object"


CALLS: list[dict[str, Any]] = [
    {"level": "DEBUG", "message": "plain"},
    {
        "level": LogLevel.INFO,
        "message": "NUL \x00 and lone \ud800 surrogate",
        "node_id": "n\x00",
        "component": "runner",
    },
    {"level": logging.WARNING, "message": "m" * (MAX_MESSAGE_CHARS * 2)},
    {"level": "error", "message": "big", "payload": {"blob": "y" * (MAX_PAYLOAD_BYTES * 2)}},
    {
        "level": "CRITICAL",
        "message": "odd payload",
        "payload": {
            "when": datetime.now(UTC),
            "set": {1, 2},
            "dec": Decimal("1.5"),
            7: "int key",
            "nan": float("nan"),
            "nested": {"k\x00": ["\udc80", _Odd()]},
            "big": 2**80,
            "bytes": b"\xff\x00",
        },
    },
    {"level": "INFO", "message": "with error", "error": ValueError("boom \x00")},
    {
        "level": "WARN",
        "message": "unicode 😀 中文 \u200b",
        "node_id": "节点" * 200,
        "component": "c" * 200,
        "attempt": 3,
        "workflow_id": uuid.uuid4(),
    },
    {"level": 25, "message": "secrets", "payload": {"password": "p", "token": "t", "x": 1}},
    {"level": "fatal", "message": "", "component": "", "node_id": ""},
]


SMALL_BATCHES = LoggerConfig(buffer_size=4, flush_interval=0.05)


def _check(batches: list[Any], returned: list[LogRecord], validator: Draft202012Validator) -> None:
    problems = [
        f"batch {i}: {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for i, batch in enumerate(batches)
        for e in validator.iter_errors(batch)
    ]
    assert problems == []
    wire_ids = [r["id"] for b in batches for r in b["records"]]
    assert sorted(wire_ids) == sorted(str(r.id) for r in returned)
    by_id = {r["id"]: r for b in batches for r in b["records"]}
    for record in returned:
        wire = by_id[str(record.id)]
        assert wire["message"] == record.message
        assert wire["level"] == record.level.value
        assert wire["component"] == record.component
        assert wire["node_id"] == record.node_id
        assert wire["payload"] == json.loads(json.dumps(record.payload))


def test_contract_broker_messages_match_the_schema(
    tmp_path: Path,
    schema_validator: Callable[[int], Draft202012Validator],
    log_through: Callable[..., list[LogRecord]],
) -> None:
    options = BrokerOptions(url="memory://")
    app = producer_app(options, name=f"contract-{uuid.uuid4().hex}")
    sender = CelerySender(options, app=app)
    spool = DiskSpool(tmp_path / "spool", file_max_bytes=1 << 20, max_bytes=1 << 30)
    returned = log_through(
        lambda: DeliveryChain(sender, spool, None, backoff=0.05), CALLS, SMALL_BATCHES
    )

    bodies: list[Any] = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE_NAME)
        try:
            while True:
                try:
                    message = queue.get(block=True, timeout=0.5)
                except queue.Empty:
                    break
                assert message.content_type == CONTENT_TYPE
                assert message.headers["task"] == TASK_NAME
                raw = message.body
                args, kwargs, _embed = json.loads(raw if isinstance(raw, str) else raw.decode())
                assert kwargs == {}
                assert len(args) == 1
                bodies.append(args[0])
                message.ack()
        finally:
            queue.close()
    assert bodies
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    _check(bodies, returned, schema_validator(SCHEMA_MAJOR))


def test_contract_http_fallback_bodies_match_the_schema(
    tmp_path: Path,
    schema_validator: Callable[[int], Draft202012Validator],
    recording_sender: Callable[..., Any],
    log_through: Callable[..., list[LogRecord]],
) -> None:
    bodies: list[Any] = []

    def worker(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/batches"
        assert request.headers["content-type"] == "application/json"
        bodies.append(json.loads(request.content))
        return httpx.Response(202, json={"status": "written"})

    http = HttpFallback("http://log-worker", "token", transport=httpx.MockTransport(worker))
    spool = DiskSpool(tmp_path / "spool", file_max_bytes=1 << 20, max_bytes=1 << 30)
    broker = recording_sender("broker", fail=True)
    returned = log_through(
        lambda: DeliveryChain(broker, spool, http, backoff=60, backoff_max=60), CALLS, SMALL_BATCHES
    )
    assert bodies
    _check(bodies, returned, schema_validator(SCHEMA_MAJOR))


def test_contract_spooled_batches_match_the_schema(
    tmp_path: Path,
    schema_validator: Callable[[int], Draft202012Validator],
    recording_sender: Callable[..., Any],
    log_through: Callable[..., list[LogRecord]],
) -> None:
    spool_dir = tmp_path / "spool"
    spool = DiskSpool(spool_dir, file_max_bytes=1 << 20, max_bytes=1 << 30)
    broker = recording_sender("broker", fail=True)
    http = recording_sender("http", fail=True)
    returned = log_through(
        lambda: DeliveryChain(broker, spool, http, backoff=60, backoff_max=60), CALLS, SMALL_BATCHES
    )
    lines = [
        json.loads(line)
        for path in sorted(spool_dir.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    assert lines
    _check(lines, returned, schema_validator(SCHEMA_MAJOR))
