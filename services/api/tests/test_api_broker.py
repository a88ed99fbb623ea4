"""Real Redis: exact batches on queue ``logs`` (own key prefix), loop never blocked by a hung
broker, broker outage -> HTTP fallback -> spool -> replay with nothing lost or duplicated, and
publishing through a real Redis Sentinel (REDIS_URL=sentinel://... + REDIS_SENTINEL_MASTER)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from api_testkit import queued_messages, task_batches

from execlog_api.logger.setup import logger_from_settings
from execlog_api.settings import Settings
from execlog_producer import broker_options
from execlog_producer.delivery.celery_sender import CelerySender
from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.http_fallback import HttpFallback
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import ExecutionLogger, LoggerConfig
from execlog_schema.codec import decode_batch
from execlog_schema.wire import QUEUE_NAME, TASK_NAME
from execlog_stack.errors import MissingBinaryError
from execlog_stack.proxy import TcpProxy
from execlog_stack.redis_server import RedisSentinel

EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-000000000004")


def settings_for(redis_url: str, prefix: str, spool: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "broker_key_prefix": prefix,
        "log_spool_dir": spool,
        "log_worker_url": "",
        "log_buffer_size": 50,
        "log_flush_interval": 60,
        "broker_connect_timeout": 0.5,
        "broker_socket_timeout": 0.5,
        "broker_publish_max_retries": 1,
        "broker_retry_interval": 0.05,
        "broker_down_backoff": 0.1,
        "broker_down_backoff_max": 0.2,
        "log_replay_interval": 0.1,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture()
def closing() -> Iterator[list[ExecutionLogger]]:
    loggers: list[ExecutionLogger] = []
    yield loggers
    for logger in loggers:
        logger.close(timeout=10)
        assert logger.metrics.dropped_total() == 0


async def wait_for_queue(redis_url: str, key: str, records: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        batches = task_batches(queued_messages(redis_url, key))
        if sum(len(b["records"]) for b in batches) >= records:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(batches)} batches arrived")
        await asyncio.sleep(0.05)


async def test_api_exact_batches_arrive_on_logs_queue(
    redis_url: str, broker_key_prefix: str, spool_dir: Path, closing: list[ExecutionLogger]
) -> None:
    logger = logger_from_settings(settings_for(redis_url, broker_key_prefix, spool_dir))
    closing.append(logger)
    logged = [
        logger.log(EXECUTION, "info", f"m{i}", node_id="n", payload={"i": i}) for i in range(120)
    ]
    await logger.flush(timeout=10)
    messages = queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}")
    assert messages, "nothing on the prefixed logs queue"
    batches = [decode_batch(wire) for wire in task_batches(messages)]
    assert [r for b in batches for r in b.records] == logged
    for message, batch in zip(messages, batches, strict=True):
        headers = message["headers"]
        assert isinstance(headers, dict)
        assert headers["task"] == TASK_NAME
        assert headers["id"] == str(batch.batch_id)
        assert message["content-type"] == "application/json"
        # The JSON body as text, not base64 (execlog_broker.transport's body_encoding).
        assert message["properties"]["body_encoding"] == "utf-8"
        assert batch.producer.service == "execlog-api"
    assert sum(len(b.records) for b in batches) == 120
    assert len(batches) < 120
    assert logger.metrics.dropped_total() == 0


async def test_api_event_loop_not_blocked_by_hung_broker(
    blackhole: TcpProxy, spool_dir: Path, closing: list[ExecutionLogger]
) -> None:
    settings = settings_for(
        f"redis://127.0.0.1:{blackhole.port}/0",
        "hung:",
        spool_dir,
        log_worker_url=f"http://127.0.0.1:{blackhole.port}",
        log_http_fallback_timeout=0.5,
        log_buffer_size=20,
    )
    logger = logger_from_settings(settings)
    closing.append(logger)
    logger.start()
    gc.collect()
    gc.freeze()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    tick = asyncio.create_task(ticker())
    call_times = []
    for i in range(2000):
        t0 = time.perf_counter()
        logger.log(EXECUTION, "info", f"m{i}", payload={"i": i})
        call_times.append(time.perf_counter() - t0)
        if i % 50 == 0:
            await asyncio.sleep(0)
    flushed = await logger.flush(timeout=30)
    stop.set()
    await tick
    gc.unfreeze()
    assert flushed == 2000
    assert logger.metrics.value("execlog_send_failures_total", {"transport": "broker"}) >= 1
    spooled = logger.metrics.value("execlog_spooled_records_total", {"reason": "send_failed"})
    assert spooled == 2000
    assert logger.metrics.dropped_total() == 0
    # Behaviour, not timing (figures belong to BENCHMARKS.md): while the sender was stuck on
    # the hung broker and the hung fallback, the loop kept turning.
    assert len(lags) >= 20, f"the event loop ran only {len(lags)} times during the flush"
    print(
        f"\nhung broker: log() median {statistics.median(call_times) * 1e6:.1f} us, "
        f"max {max(call_times) * 1e3:.2f} ms; loop lag median "
        f"{statistics.median(lags) * 1e3:.2f} ms, max {max(lags) * 1e3:.2f} ms "
        f"over {len(lags)} ticks"
    )


async def test_api_outage_fallback_spool_replay_nothing_lost_or_duplicated(
    redis_url: str,
    broker_key_prefix: str,
    redis_proxy: TcpProxy,
    spool_dir: Path,
    closing: list[ExecutionLogger],
) -> None:
    settings = settings_for(f"redis://127.0.0.1:{redis_proxy.port}/0", broker_key_prefix, spool_dir)
    worker_up = True
    via_http: list[str] = []

    def worker(request: httpx.Request) -> httpx.Response:
        if not worker_up:
            raise httpx.ConnectError("log-worker down", request=request)
        via_http.extend(str(r.id) for r in decode_batch(request.content).records)
        return httpx.Response(202)

    def chain() -> DeliveryChain:
        return DeliveryChain(
            CelerySender(broker_options(settings.producer_settings())),
            DiskSpool(spool_dir, file_max_bytes=4096, max_bytes=1 << 30),
            HttpFallback("http://worker", "t", transport=httpx.MockTransport(worker)),
            backoff=0.1,
            backoff_max=0.2,
        )

    logger = ExecutionLogger(
        chain, LoggerConfig(buffer_size=25, flush_interval=60, replay_interval=0.1)
    )
    closing.append(logger)
    key = f"{broker_key_prefix}{QUEUE_NAME}"
    ids: list[str] = []

    def log(n: int, tag: str) -> None:
        ids.extend(str(logger.info(EXECUTION, f"{tag}{i}").id) for i in range(n))

    log(50, "up")
    await logger.flush(timeout=10)
    redis_proxy.cut("reset")
    log(50, "http")
    await logger.flush(timeout=10)
    assert len(via_http) == 50
    worker_up = False
    log(200, "spool")
    await logger.flush(timeout=10)
    m = logger.metrics
    assert m.value("execlog_spooled_records_total", {"reason": "send_failed"}) == 200
    assert list(spool_dir.glob("*.jsonl"))
    redis_proxy.restore()
    log(50, "back")
    await logger.flush(timeout=10)
    await wait_for_queue(redis_url, key, 300)
    deadline = time.monotonic() + 10
    while list(spool_dir.glob("*.jsonl")) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not list(spool_dir.glob("*.jsonl"))
    in_redis = [
        r.id for w in task_batches(queued_messages(redis_url, key)) for r in decode_batch(w).records
    ]
    delivered = [str(i) for i in in_redis] + via_http
    assert len(delivered) == len(set(delivered)) == 350
    assert sorted(delivered) == sorted(ids)
    spooled = m.value("execlog_spooled_records_total", {"reason": "send_failed"})
    assert spooled >= 200
    assert m.value("execlog_replayed_records_total") == spooled
    assert m.dropped_total() == 0


async def test_api_spool_replayed_at_startup_to_real_redis(
    redis_url: str, broker_key_prefix: str, spool_dir: Path, closing: list[ExecutionLogger]
) -> None:
    dead = settings_for("redis://127.0.0.1:1/0", broker_key_prefix, spool_dir)
    first = logger_from_settings(dead)
    ids = {str(first.info(EXECUTION, f"m{i}").id) for i in range(70)}
    await first.flush(timeout=10)
    first.close(timeout=10)
    assert first.metrics.value("execlog_spooled_records_total", {"reason": "send_failed"}) == 70

    second = logger_from_settings(settings_for(redis_url, broker_key_prefix, spool_dir))
    closing.append(second)
    second.start()
    key = f"{broker_key_prefix}{QUEUE_NAME}"
    await wait_for_queue(redis_url, key, 70)
    got = [
        str(r.id)
        for w in task_batches(queued_messages(redis_url, key))
        for r in decode_batch(w).records
    ]
    assert len(got) == 70
    assert set(got) == ids


@pytest.fixture()
def sentinel_port(redis_url: str, tmp_path: Path) -> Iterator[int]:
    """A throwaway Redis Sentinel (``redis-server --sentinel``) watching the shared Redis."""
    try:
        sentinel = RedisSentinel(tmp_path / "sentinel", redis_url, "apimaster")
    except MissingBinaryError:
        pytest.skip("no redis-server binary to run a sentinel")
    with sentinel:
        yield sentinel.port


async def test_api_publishes_through_redis_sentinel(
    redis_url: str,
    broker_key_prefix: str,
    spool_dir: Path,
    sentinel_port: int,
    closing: list[ExecutionLogger],
) -> None:
    master_db = urlsplit(redis_url).path.lstrip("/") or "0"
    settings = settings_for(
        f"sentinel://127.0.0.1:{sentinel_port}/{master_db}",
        broker_key_prefix,
        spool_dir,
        redis_sentinel_master="apimaster",
    )
    logger = logger_from_settings(settings)
    closing.append(logger)
    logged = [logger.log(EXECUTION, "info", f"s{i}", node_id="n") for i in range(10)]
    await logger.flush(timeout=10)
    sent = {"route": "broker", "origin": "live"}
    assert logger.metrics.value("execlog_records_sent_total", sent) == len(logged)
    messages = queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}")
    batches = [decode_batch(wire) for wire in task_batches(messages)]
    assert [r for b in batches for r in b.records] == logged
