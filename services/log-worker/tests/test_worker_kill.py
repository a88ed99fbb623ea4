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
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import psutil
import pytest
from worker_testkit import BatchFactory, count_rows, spawn_worker, stop_group, wait_rows

from execlog_schema.codec import batch_to_wire
from execlog_schema.models import LogBatch
from execlog_stack.broker import BrokerClient
from execlog_stack.proxy import TcpProxy
from execlog_stack.waiting import async_wait_for
from execlog_worker.ops.schema import migrate
from execlog_worker.settings import Settings


class _Stack:
    """Workers on the test's broker, writing through ``proxy``; ``conn`` reads the database."""

    def __init__(
        self,
        settings: Settings,
        proxy: TcpProxy,
        env: dict[str, str],
        tmp_path: Path,
        conn: asyncpg.Connection,
    ) -> None:
        self.proxy = proxy
        self.conn = conn
        self.env = {
            **env,
            "DATABASE_URL": proxy.url_for(settings.database_url),
            "REDIS_URL": settings.broker_url,
            "BROKER_KEY_PREFIX": settings.broker_key_prefix,
            "TASK_TIME_LIMIT": "6",
            "TASK_SOFT_TIME_LIMIT": "5",
            "TASK_RETRY_BACKOFF_BASE": "0.2",
            "TASK_RETRY_BACKOFF_MAX": "1",
            "BROKER_VISIBILITY_TIMEOUT": "8",
            "DB_CONNECT_TIMEOUT": "30",
            "LOG_FORMAT": "console",
        }
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []
        self.broker = BrokerClient(settings.broker_url, settings.broker_key_prefix)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        proc = spawn_worker(
            self.env,
            self.tmp_path / f"{name}.log",
            "--concurrency=1",
            f"--hostname={name}@%h",
            "--without-mingle",
            "--without-gossip",
        )
        self.procs.append(proc)
        return proc

    async def send(self, batch: LogBatch) -> None:
        await asyncio.to_thread(self.broker.send_batch, batch_to_wire(batch))

    async def wait_unacked(self, n: int, what: str) -> None:
        async def reached() -> bool:
            return len(await asyncio.to_thread(self.broker.unacked_batches)) == n

        await async_wait_for(reached, timeout=10, what=what)

    async def worker_holding_a_batch(
        self, name: str, make_batch: BatchFactory, records: int
    ) -> subprocess.Popen[bytes]:
        """A worker that wrote a first batch of 2 records and now holds a batch of ``records``
        unacked, its database write hanging (the database link is blackholed)."""
        worker = self.start_worker(name)
        await self.send(make_batch(2))
        await wait_rows(self.conn, 2, timeout=40, what="first batch")
        self.proxy.cut("blackhole")
        await self.send(make_batch(records))
        await self.wait_unacked(1, "message in flight")
        return worker

    def close(self) -> None:
        for proc in self.procs:
            stop_group(proc)
        self.broker.close()


@pytest.fixture()
async def stack(
    settings: Settings, pg_proxy: TcpProxy, pythonpath_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[_Stack]:
    await migrate(settings)
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    kill_stack = _Stack(settings, pg_proxy, pythonpath_env, tmp_path, conn)
    try:
        yield kill_stack
    finally:
        await conn.close()
        kill_stack.close()


async def test_worker_kill_child_requeues_then_writes_once(
    stack: _Stack, make_batch: BatchFactory
) -> None:
    main = await stack.worker_holding_a_batch("kchild", make_batch, 3)
    await asyncio.sleep(0.5)
    children = psutil.Process(main.pid).children(recursive=True)
    assert children
    for child in children:
        child.kill()
    stack.proxy.restore()
    await wait_rows(stack.conn, 5, timeout=40, what="redelivered batch written")
    await asyncio.sleep(1)
    assert await count_rows(stack.conn) == 5
    await stack.wait_unacked(0, "ack")


async def test_worker_kill_whole_worker_redelivers_after_visibility_timeout(
    stack: _Stack, make_batch: BatchFactory
) -> None:
    first = await stack.worker_holding_a_batch("kwhole1", make_batch, 4)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    stack.proxy.restore()
    killed_at = time.monotonic()
    stack.start_worker("kwhole2")
    await wait_rows(stack.conn, 6, timeout=60, what="batch of the killed worker written")
    assert time.monotonic() - killed_at >= 5
    await asyncio.sleep(1)
    assert await count_rows(stack.conn) == 6
