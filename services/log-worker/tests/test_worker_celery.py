"""A real `celery worker` subprocess consuming real messages from Redis (own key prefix)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
from celery import Celery

from execlog_schema.codec import batch_to_wire
from execlog_schema.wire import TASK_NAME, register_kombu_json
from execlog_worker.db import migrate
from execlog_worker.settings import Settings


def _producer(settings: Settings) -> Celery:
    register_kombu_json()
    app = Celery("test-producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options={"global_keyprefix": settings.broker_key_prefix},
        task_serializer="json",
        task_routes={TASK_NAME: {"queue": "logs"}},
    )
    return app


async def _until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _spawn_worker(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "execlog_worker",
            "worker",
            "--concurrency=2",
            "--hostname=celerytest@%h",
            *args,
        ],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def test_worker_celery_consumes_rejects_and_survives_db_outage(
    settings: Settings,
    pg_proxy: Any,
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
        "RETRY_BACKOFF_BASE": "0.2",
        "RETRY_BACKOFF_MAX": "1",
        "TASK_MAX_RETRIES": "100",
        "DB_CONNECT_TIMEOUT": "2",
        "LOG_FORMAT": "json",
        "WORKER_METRICS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log_path = tmp_path / "worker.log"
    worker = _spawn_worker(env, log_path)
    producer = _producer(settings)
    conn = await asyncpg.connect(settings.asyncpg_dsn)

    async def count(table: str = "execution_logs") -> int:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))

    try:
        batches = [make_batch(4) for _ in range(5)]
        for batch in batches:
            await asyncio.to_thread(producer.send_task, TASK_NAME, args=[batch_to_wire(batch)])
        bad = batch_to_wire(make_batch(1))
        bad["records"][0]["level"] = "LOUD"
        await asyncio.to_thread(producer.send_task, TASK_NAME, args=[bad])
        await asyncio.to_thread(producer.send_task, TASK_NAME, args=[batch_to_wire(batches[0])])
        await _until(lambda: _eq(count(), 20), 60, "20 rows")
        await _until(lambda: _eq(count("execution_log_rejects"), 1), 20, "1 dead letter")
        reason = await conn.fetchval("SELECT reason FROM execution_log_rejects")
        assert "level" in reason

        pg_proxy.cut()
        during = [make_batch(3) for _ in range(2)]
        for batch in during:
            await asyncio.to_thread(producer.send_task, TASK_NAME, args=[batch_to_wire(batch)])
        await asyncio.sleep(3)
        assert await count() == 20
        pg_proxy.restore()
        await _until(lambda: _eq(count(), 26), 60, "rows written after the outage")
        await asyncio.sleep(1)
        assert await count() == 26

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
        _stop(worker)
    log_text = log_path.read_text(errors="replace")
    assert worker.returncode == 0, log_text[-3000:]
    assert "write failed, retrying" in log_text
    assert "Traceback" not in log_text, log_text[-3000:]


async def test_worker_celery_queue_length_counts_the_prefixed_queue(
    settings: Settings, make_batch: Any
) -> None:
    from execlog_schema.wire import QUEUE_NAME
    from execlog_worker.metrics import QueueLengthCollector

    producer = _producer(settings)
    collector = QueueLengthCollector(settings.broker_url, settings.queue_key, QUEUE_NAME)
    assert collector.queue_length() == 0
    for _ in range(3):
        await asyncio.to_thread(producer.send_task, TASK_NAME, args=[batch_to_wire(make_batch(1))])
    await asyncio.to_thread(
        producer.send_task, TASK_NAME, args=[batch_to_wire(make_batch(1))], priority=9
    )
    assert collector.queue_length() == 4
    samples = {m.name: m.samples[0].value for m in collector.collect()}
    assert samples == {"execlog_broker_up": 1, "execlog_queue_length": 4}


async def _eq(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


def _sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total
