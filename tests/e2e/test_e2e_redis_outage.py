"""Scenario 4: Redis restarted mid-stream (AOF persistence), then down for a while.

The stack runs a Redis server of its own (AOF, ``appendfsync always``) on its own port.
While records keep coming, Redis is restarted, then stopped for a while and started again.
The producer (API) keeps accepting records: during the outage it sends batches to
log-worker's HTTP API (``http-fallback``) or, with that fallback off, to its disk spool
(``spool``) and replays them once the broker is back. The worker reconnects; what it held
unacknowledged comes back after the visibility timeout. Nothing lost, nothing twice.

The worker runs under a stand-in for its process manager (``process_manager``): kombu can end
a worker's main process on the connection loss (docs/e2e.md, known limits), and every
deployment restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from execlog_stack.load import LoadDriver
from execlog_stack.process import ManagedProcess
from execlog_stack.stack import Stack
from execlog_stack.waiting import async_wait_for

pytestmark = pytest.mark.timeout(180)


@contextlib.asynccontextmanager
async def process_manager(stack: Stack, interval: float = 0.2) -> AsyncIterator[list[int]]:
    """Start a worker again when one exits, as every deployment's process manager does
    (systemd ``Restart=always``, Supervisor ``autorestart``, Kubernetes); yields the exit codes.

    kombu's Redis transport can end a worker's main process when the broker connection drops:
    closing the channel restores the unacked messages it still holds through a connection
    that is already released (``AttributeError: 'NoneType' object has no attribute
    'hostname'``, the kombu#582 / kombu#970 family). What the worker held stays in Redis's
    unacked hash and comes back after the visibility timeout.
    """
    exits: list[int] = []
    handled: set[ManagedProcess] = set()

    async def watch() -> None:
        while True:
            for worker in list(stack.workers):
                code = worker.returncode
                if code is not None and worker not in handled:
                    handled.add(worker)
                    exits.append(code)
                    await asyncio.to_thread(stack.add_worker, wait=False)
            await asyncio.sleep(interval)

    task = asyncio.create_task(watch())
    try:
        yield exits
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("path", ["http-fallback", "spool"])
async def test_e2e_redis_restart_and_outage(
    make_stack: Callable[..., Stack], fast_redelivery: dict[str, str], path: str
) -> None:
    api_env = {"LOG_HTTP_FALLBACK": "true" if path == "http-fallback" else "false"}
    stack = make_stack(own_redis=True, workers=1, worker_env=fast_redelivery, api_env=api_env)
    redis = stack.redis
    assert redis is not None
    async with (
        LoadDriver(stack.api_url, stack.logs_database_url, concurrency=8) as driver,
        process_manager(stack) as worker_exits,
    ):

        def produced_at_least(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(driver.ledger) >= n

            return check

        producer = asyncio.create_task(
            driver.produce(executions=20, records_per_execution=120, batch_size=10, rate=300)
        )
        await async_wait_for(produced_at_least(300), timeout=30, what="300 records")
        await asyncio.to_thread(redis.restart)
        mark = len(driver.ledger)
        await async_wait_for(produced_at_least(mark + 300), timeout=30, what="300 more")
        await asyncio.to_thread(redis.stop)
        mark = len(driver.ledger)
        await async_wait_for(produced_at_least(mark + 600), timeout=30, what="600 during outage")
        state = await asyncio.to_thread(stack.api_logger_state)
        assert state["broker_ok"] is False, state
        await asyncio.to_thread(redis.start)
        await producer
        report = await driver.wait_stored(timeout=90)
        rejects = await driver.db.rejects()
    assert report.produced == 2400, report
    assert report.ok, report
    assert rejects == []
    if path == "spool":
        assert stack.api_metric("execlog_spooled_records_total") > 0
        assert stack.api_metric("execlog_replayed_records_total") > 0
    else:
        assert stack.api_metric("execlog_records_sent_total", route="http") > 0
    print(f"redis outage ({path}): {report}; worker exits restarted: {worker_exits}")
