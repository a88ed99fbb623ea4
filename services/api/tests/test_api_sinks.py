"""LOG_SINK=off|direct (the comparison sinks), the payload fast path, and the publish encoding.

The sinks exist to measure the queue against: ``off`` builds records and discards them,
``direct`` is the old design (one INSERT + commit per record on the API's pool).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson
from api_testkit import running_app, services_of, wait_finished
from kombu import serialization

from execlog_api.logger.sinks import DirectWriteLogger, DiscardingLogger
from execlog_api.settings import Settings
from execlog_db.url import to_asyncpg_dsn
from execlog_producer import DEFAULT_REDACT_KEYS
from execlog_producer.redaction import SensitiveKeys
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire, encode_batch
from execlog_schema.payload import REDACTED, PayloadConverter
from execlog_schema.wire import register_kombu_json

STEPS = [{"kind": "echo", "message": "hello", "data": {"n": 1}}] * 2


async def test_api_sinks_off_builds_records_and_ships_nothing(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"log_sink": "off"})
    async with running_app(settings) as (client, app):
        logger = services_of(app).logger
        assert isinstance(logger, DiscardingLogger)
        assert (await client.get("/readyz")).status_code == 200
        response = await client.post("/api/v1/executions", json={"steps": STEPS})
        assert response.status_code == 202
        await wait_finished(client, response.json()["id"])
        assert logger.metrics.value("execlog_records_logged_total") >= 4
        assert logger.buffer.depth == 0
        assert await logger.flush() == 0


async def test_api_sinks_direct_writes_one_row_per_record(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"log_sink": "direct"})
    async with running_app(settings) as (client, app):
        logger = services_of(app).logger
        assert isinstance(logger, DirectWriteLogger)
        assert (await client.get("/readyz")).status_code == 200
        response = await client.post("/api/v1/executions", json={"steps": STEPS})
        execution_id = response.json()["id"]
        await wait_finished(client, execution_id)
        logged = int(logger.metrics.value("execlog_records_logged_total"))
        await logger.flush(timeout=10)
    conn = await asyncpg.connect(to_asyncpg_dsn(settings.database_url))
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM execution_logs_direct WHERE execution_id = $1",
            uuid.UUID(execution_id),
        )
    finally:
        await conn.close()
    assert logged >= 4
    assert stored == logged


def test_api_sinks_plain_payload_fast_path_matches_the_full_conversion() -> None:
    converter = PayloadConverter(SensitiveKeys(DEFAULT_REDACT_KEYS).__getitem__)
    plain: dict[str, Any] = {"a": 1, "b": [1.5, "x", None, True], "c": {"d": {"e": "f"}}}
    assert converter.payload(plain) == plain
    assert converter.to_json(plain) == plain
    secret = {"nested": {"apiKey": "s3cret"}, "ok": 1}
    assert converter.payload(secret) == {"nested": {"apiKey": REDACTED}, "ok": 1}
    odd: dict[Any, Any] = {"nan": float("nan"), "t": (1, 2), 3: "int key"}
    assert converter.payload(odd) == {"nan": "NaN", "t": [1, 2], "3": "int key"}
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    assert converter.payload(deep) == converter.to_json(deep)
    # Verdicts are cached per key, and the cache is bounded.
    keys = SensitiveKeys(DEFAULT_REDACT_KEYS)
    assert keys["db_password"]
    assert keys["db_password"]
    assert not keys["max_tokens"]
    assert len(keys) == 2


def test_api_sinks_published_body_is_the_same_json_as_the_wire_dict() -> None:
    register_kombu_json()
    records = [
        new_record(execution_id=uuid.uuid4(), level="INFO", message=f"m{i}", component="runner")
        for i in range(3)
    ]
    batch = new_batch(records, make_producer("tests", "0"))
    embed = {"callbacks": None}
    dumps: Callable[..., tuple[str, str, bytes]] = serialization.dumps
    fast = dumps([[orjson.Fragment(encode_batch(batch))], {}, embed], "json")
    slow = dumps([[batch_to_wire(batch)], {}, embed], "json")
    assert fast[0] == slow[0] == "application/json"
    assert orjson.loads(fast[2]) == orjson.loads(slow[2])
