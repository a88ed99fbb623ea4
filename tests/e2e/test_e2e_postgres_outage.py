"""Scenario 5: log-worker's PostgreSQL unreachable for a while (a TCP proxy in between).

First every connection is reset (the server went away), then the link is blackholed (a
partition: statements and connects time out). The worker retries with backoff and never
gives up while the outage lasts; once the link is back, everything is written. Nothing
lost, nothing twice, nothing in the dead-letter table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from execlog_stack.load import LoadDriver
from execlog_stack.stack import Stack
from execlog_stack.waiting import async_wait_for

pytestmark = pytest.mark.timeout(180)

OUTAGE_ENV = {"DB_CONNECT_TIMEOUT": "1", "DB_COMMAND_TIMEOUT": "2"}


async def test_e2e_postgres_unreachable_then_back(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(workers=1, logs_db_via_proxy=True, worker_env=OUTAGE_ENV)
    proxy = stack.db_proxy
    assert proxy is not None
    async with LoadDriver(stack.api_url, stack.logs_database_url, concurrency=8) as driver:

        def produced_at_least(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(driver.ledger) >= n

            return check

        async def stored() -> int:
            return await driver.db.count(driver.ledger.executions, driver.run_id)

        producer = asyncio.create_task(
            driver.produce(executions=16, records_per_execution=120, batch_size=10, rate=300)
        )
        await async_wait_for(produced_at_least(300), timeout=30, what="300 records")
        proxy.cut("reset")
        await async_wait_for(produced_at_least(700), timeout=30, what="400 more (reset)")
        before = await stored()
        proxy.cut("blackhole")
        await async_wait_for(produced_at_least(1100), timeout=30, what="400 more (blackhole)")
        during = await stored()
        proxy.restore()
        await producer
        report = await driver.wait_stored(timeout=90)
        rejects = await driver.db.rejects()
    assert during == before, "records were stored while the database was unreachable"
    assert report.produced == 1920, report
    assert report.ok, report
    assert rejects == []
    print(f"postgres outage: {before} stored before the partition; {report}")
