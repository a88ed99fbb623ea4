"""Workers killed mid-task lose nothing and duplicate nothing (acks_late + idempotent writes).

- a pool child SIGKILLed: the main process sees WorkerLostError and requeues
  (reject_on_worker_lost);
- the whole worker SIGKILLed: the unacked message comes back after the (short) visibility
  timeout and another worker writes it.
"""

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
import psutil
import redis
from celery import Celery

from execlog_schema.codec import batch_to_wire
from execlog_schema.wire import TASK_NAME, register_kombu_json
from execlog_worker.db import migrate
from execlog_worker.settings import Settings


def _producer(settings: Settings) -> Celery:
    register_kombu_json()
    app = Celery("test-kill-producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options={"global_keyprefix": settings.broker_key_prefix},
        task_routes={TASK_NAME: {"queue": "logs"}},
    )
    return app


async def _until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class _Stack:
    def __init__(self, settings: Settings, proxy: Any, env: dict[str, str], tmp_path: Path) -> None:
        self.settings = settings
        self.proxy = proxy
        self.env = {
            **env,
            "DATABASE_URL": proxy.url_for(settings.database_url),
            "REDIS_URL": settings.broker_url,
            "BROKER_KEY_PREFIX": settings.broker_key_prefix,
            "TASK_TIME_LIMIT": "6",
            "TASK_SOFT_TIME_LIMIT": "5",
            "RETRY_BACKOFF_BASE": "0.2",
            "RETRY_BACKOFF_MAX": "1",
            "BROKER_VISIBILITY_TIMEOUT": "8",
            "DB_CONNECT_TIMEOUT": "30",
            "LOG_FORMAT": "console",
        }
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []
        self.producer = _producer(settings)
        self.redis = redis.Redis.from_url(settings.broker_url)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "execlog_worker",
                "worker",
                "--concurrency=1",
                f"--hostname={name}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            env=self.env,
            stdout=(self.tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    async def send(self, batch: Any) -> None:
        await asyncio.to_thread(self.producer.send_task, TASK_NAME, args=[batch_to_wire(batch)])

    def unacked(self) -> int:
        return int(self.redis.hlen(f"{self.settings.broker_key_prefix}unacked"))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.redis.close()


async def _counter(dsn: str) -> tuple[asyncpg.Connection, Callable[[int], Awaitable[bool]]]:
    conn = await asyncpg.connect(dsn)

    async def has(n: int) -> bool:
        return int(await conn.fetchval("SELECT count(*) FROM execution_logs")) == n

    return conn, has


async def test_worker_kill_child_requeues_then_writes_once(
    settings: Settings,
    pg_proxy: Any,
    make_batch: Any,
    pythonpath_env: dict[str, str],
    tmp_path: Path,
) -> None:
    await migrate(settings)
    stack = _Stack(settings, pg_proxy, pythonpath_env, tmp_path)
    conn, has = await _counter(settings.asyncpg_dsn)
    try:
        main = stack.start_worker("kchild")
        await stack.send(make_batch(2))
        await _until(lambda: has(2), 40, "first batch")
        pg_proxy.blackhole()
        await stack.send(make_batch(3))
        await _until(lambda: _true(stack.unacked() == 1), 10, "message in flight")
        await asyncio.sleep(0.5)
        children = psutil.Process(main.pid).children(recursive=True)
        assert children
        for child in children:
            child.kill()
        pg_proxy.restore()
        await _until(lambda: has(5), 40, "redelivered batch written")
        await asyncio.sleep(1)
        assert await has(5)
        await _until(lambda: _true(stack.unacked() == 0), 10, "ack")
    finally:
        await conn.close()
        stack.close()


async def test_worker_kill_whole_worker_redelivers_after_visibility_timeout(
    settings: Settings,
    pg_proxy: Any,
    make_batch: Any,
    pythonpath_env: dict[str, str],
    tmp_path: Path,
) -> None:
    await migrate(settings)
    stack = _Stack(settings, pg_proxy, pythonpath_env, tmp_path)
    conn, has = await _counter(settings.asyncpg_dsn)
    try:
        first = stack.start_worker("kwhole1")
        await stack.send(make_batch(2))
        await _until(lambda: has(2), 40, "first batch")
        pg_proxy.blackhole()
        await stack.send(make_batch(4))
        await _until(lambda: _true(stack.unacked() == 1), 10, "message in flight")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        pg_proxy.restore()
        killed_at = time.monotonic()
        stack.start_worker("kwhole2")
        await _until(lambda: has(6), 60, "batch of the killed worker written")
        assert time.monotonic() - killed_at >= 5
        await asyncio.sleep(1)
        assert await has(6)
    finally:
        await conn.close()
        stack.close()


async def _true(value: bool) -> bool:
    return value
