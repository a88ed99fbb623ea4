"""Broker behind Redis Sentinel: REDIS_URL=sentinel://...;... + REDIS_SENTINEL_MASTER.

A throwaway sentinel (``redis-server --sentinel``) monitors the shared Redis; Celery (kombu's
Sentinel transport) and the service's own clients must find the master through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from execlog_schema.codec import batch_to_wire
from execlog_schema.wire import QUEUE_NAME, TASK_NAME
from execlog_stack.errors import MissingBinaryError
from execlog_stack.redis_server import RedisSentinel
from execlog_worker.broker import async_redis_client, parse_sentinel_url, redis_client
from execlog_worker.ingest.celery_app import create_app
from execlog_worker.metrics import QueueLengthCollector
from execlog_worker.settings import Settings


def test_worker_sentinel_url_parsing_and_validation(settings: Settings) -> None:
    target = parse_sentinel_url("sentinel://:p%40ss@s1:26379/2;sentinel://s2:26380/2;sentinel://s3")
    assert target.hosts == [("s1", 26379), ("s2", 26380), ("s3", 26379)]
    assert (target.password, target.db) == ("p@ss", 2)
    with pytest.raises(ValueError, match="not a sentinel"):
        parse_sentinel_url("redis://h:6379/0")
    with pytest.raises(ValueError, match="REDIS_SENTINEL_MASTER"):
        Settings(redis_url="sentinel://s1:26379/0")
    app = create_app(
        settings.model_copy(
            update={"redis_url": "sentinel://s1:26379/0", "redis_sentinel_master": "m"}
        )
    )
    assert app.conf.broker_transport_options["master_name"] == "m"
    assert app.conf.broker_url == "sentinel://s1:26379/0"


@pytest.fixture()
def sentinel_port(redis_url: str, tmp_path: Path) -> Iterator[int]:
    try:
        sentinel = RedisSentinel(tmp_path / "sentinel", redis_url, "tmaster")
    except MissingBinaryError:
        pytest.skip("no redis-server binary for a sentinel")
    with sentinel:
        yield sentinel.port


async def test_worker_sentinel_celery_and_clients_find_the_master(
    settings: Settings, sentinel_port: int, make_batch: Any
) -> None:
    via_sentinel = settings.model_copy(
        update={
            "redis_url": f"sentinel://127.0.0.1:{sentinel_port}/0",
            "redis_sentinel_master": "tmaster",
        }
    )
    app = create_app(via_sentinel)
    await asyncio.to_thread(
        app.send_task, TASK_NAME, args=[batch_to_wire(make_batch(1))], queue=QUEUE_NAME
    )
    direct = redis.Redis.from_url(settings.broker_url)
    try:
        assert direct.llen(settings.queue_key) == 1
    finally:
        direct.close()
    collector = QueueLengthCollector(
        lambda: redis_client(via_sentinel), via_sentinel.queue_key, QUEUE_NAME
    )
    assert collector.queue_length() == 1
    client = async_redis_client(via_sentinel)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
