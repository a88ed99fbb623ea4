"""A real `celery worker` subprocess consuming real messages from Redis (own key prefix)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
from worker_testkit import count_rows, spawn_worker, stop_group, wait_rows

from execlog_schema.codec import batch_to_wire
from execlog_schema.wire import TASK_NAME
from execlog_stack.broker import BrokerClient
from execlog_stack.proxy import TcpProxy
from execlog_worker.ops.schema import migrate
from execlog_worker.settings import Settings


async def test_worker_celery_consumes_rejects_and_survives_db_outage(
    settings: Settings,
    pg_proxy: TcpProxy,
    make_batch: Any,
    pythonpath_env: dict[str, str],
    tmp_path: Path,
    free_port: int,
) -> None:
    await migrate(settings)
    metrics_port = free_port
    env = {
        **pythonpath_env,
        "DATABASE_URL": pg_proxy.url_for(settings.database_url),
        "REDIS_URL": settings.broker_url,
        "BROKER_KEY_PREFIX": settings.broker_key_prefix,
        "TASK_RETRY_BACKOFF_BASE": "0.2",
        "TASK_RETRY_BACKOFF_MAX": "1",
        "TASK_MAX_RETRIES": "100",
        "DB_CONNECT_TIMEOUT": "2",
        "LOG_FORMAT": "json",
        "WORKER_METRICS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log_path = tmp_path / "worker.log"
    worker = spawn_worker(env, log_path, "--concurrency=2", "--hostname=celerytest@%h")
    broker = BrokerClient(settings.broker_url, settings.broker_key_prefix)
    # The API publishes text bodies (execlog_broker's body_encoding); older producers and
    # kombu's default use base64. Every message names its own, so a queue may hold both.
    text_broker = BrokerClient(settings.broker_url, settings.broker_key_prefix, text_body=True)
    conn = await asyncpg.connect(settings.asyncpg_dsn)

    try:
        batches = [make_batch(4) for _ in range(5)]
        for i, batch in enumerate(batches):
            sender = text_broker if i % 2 else broker
            await asyncio.to_thread(sender.send_batch, batch_to_wire(batch))
        bad = batch_to_wire(make_batch(1))
        bad["records"][0]["level"] = "LOUD"
        await asyncio.to_thread(broker.send_batch, bad)
        await asyncio.to_thread(broker.send_batch, batch_to_wire(batches[0]))
        await wait_rows(conn, 20, timeout=60, what="20 rows")
        await wait_rows(conn, 1, timeout=20, what="1 dead letter", table="execution_log_rejects")
        reason = await conn.fetchval("SELECT reason FROM execution_log_rejects")
        assert "level" in reason

        pg_proxy.cut()
        during = [make_batch(3) for _ in range(2)]
        for batch in during:
            await asyncio.to_thread(broker.send_batch, batch_to_wire(batch))
        await asyncio.sleep(3)
        assert await count_rows(conn) == 20
        pg_proxy.restore()
        await wait_rows(conn, 26, timeout=60, what="rows written after the outage")
        await asyncio.sleep(1)
        assert await count_rows(conn) == 26

        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert _sample(text, "execlog_records_written_total") == 26
        assert _sample(text, "execlog_duplicates_skipped_total") >= 4
        assert _sample(text, "execlog_batches_rejected_total") == 1
        assert _sample(text, "execlog_write_retries_total") >= 1
        assert "execlog_queue_length" in text

        def ping(node: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "execlog_worker", "ping", f"--hostname={node}"],
                env={**env, "WORKER_METRICS_PORT": ""},
                capture_output=True,
                text=True,
                timeout=60,
            )

        alive, absent = await asyncio.gather(
            asyncio.to_thread(ping, "celerytest@%h"), asyncio.to_thread(ping, "nobody@%h")
        )
        assert alive.returncode == 0, alive.stderr
        assert "pong" in alive.stdout
        assert absent.returncode == 1
        assert "no reply" in absent.stderr
    finally:
        await conn.close()
        stop_group(worker)
        broker.close()
        text_broker.close()
    log_text = log_path.read_text(errors="replace")
    assert worker.returncode == 0, log_text[-3000:]
    assert "write failed, retrying" in log_text
    assert "Traceback" not in log_text, log_text[-3000:]


async def test_worker_celery_queue_length_counts_the_prefixed_queue(
    settings: Settings, make_batch: Any
) -> None:
    from execlog_schema.wire import QUEUE_NAME
    from execlog_worker.metrics import QueueLengthCollector

    broker = BrokerClient(settings.broker_url, settings.broker_key_prefix)
    collector = QueueLengthCollector(settings.broker_url, settings.queue_key, QUEUE_NAME)
    assert collector.queue_length() == 0
    for _ in range(3):
        await asyncio.to_thread(broker.send_batch, batch_to_wire(make_batch(1)))
    await asyncio.to_thread(
        broker.app.send_task, TASK_NAME, args=[batch_to_wire(make_batch(1))], priority=9
    )
    broker.close()
    assert collector.queue_length() == 4
    samples = {m.name: m.samples[0].value for m in collector.collect()}
    assert samples == {"execlog_broker_up": 1, "execlog_queue_length": 4}


def _sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total
