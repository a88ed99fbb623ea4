"""Scenario 2: a worker is SIGKILLed holding a batch it already wrote but could not ack.

Deterministic: the worker reaches Redis and PostgreSQL through TCP proxies. The database
link is blackholed until the worker holds a batch (its write hangs), then the Redis link is
blackholed (the ack cannot get out), then the database comes back (the write commits).
The worker is killed with SIGKILL and its held connections are reset (the ack it queued is
never delivered); a new worker gets the message again after the (short)
visibility timeout and writes it a second time: ON CONFLICT absorbs it. Everything arrives,
nothing twice, nothing dead-lettered.

The worker runs one child with prefetch 1, so once it holds a batch it has no BRPOP in
flight when Redis is cut: a BRPOP answered by Redis whose reply never reaches a worker that
then dies loses that message (kombu's Redis transport pops before it records the message as
unacked; kombu#305). That window is a documented limit (docs/e2e.md), not what this tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from execlog_stack.load import LoadDriver
from execlog_stack.stack import Stack
from execlog_stack.waiting import async_wait_for

pytestmark = pytest.mark.timeout(150)


def _record_ids(batches: list[object]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for batch in batches:
        assert isinstance(batch, dict), batch
        records: list[dict[str, Any]] = batch["records"]
        ids.update(uuid.UUID(r["id"]) for r in records)
    return ids


async def test_e2e_worker_sigkill_after_commit_before_ack(
    make_stack: Callable[..., Stack], fast_redelivery: dict[str, str]
) -> None:
    stack = make_stack(
        workers=1,
        worker_concurrency=1,
        # Prefetch 1, one message per task: once the child holds a batch no BRPOP is outstanding
        # when Redis is cut (the kombu window described above is a documented limit, not what
        # this tests), and the redelivery shows as Celery's per-task log line.
        worker_env={
            **fast_redelivery,
            "WORKER_PREFETCH_MULTIPLIER": "1",
            "WORKER_COALESCE": "false",
        },
        logs_db_via_proxy=True,
        worker_redis_via_proxy=True,
    )
    db_proxy, redis_proxy = stack.db_proxy, stack.redis_proxy
    assert db_proxy is not None
    assert redis_proxy is not None
    victim = stack.workers[0]
    async with LoadDriver(stack.api_url, stack.logs_database_url, concurrency=8) as driver:
        producer = asyncio.create_task(
            driver.produce(executions=16, records_per_execution=100, batch_size=10, rate=300)
        )
        await async_wait_for(lambda: asyncio.to_thread(len, driver.ledger), timeout=20)
        db_proxy.cut("blackhole")
        held = await async_wait_for(
            lambda: asyncio.to_thread(stack.broker.unacked_batches),
            timeout=20,
            what="a batch held by the worker (write hanging)",
        )
        redis_proxy.cut("blackhole")
        held = await asyncio.to_thread(stack.broker.unacked_batches)
        held_ids = _record_ids(held)
        assert held_ids
        db_proxy.restore()

        async def written() -> bool:
            rows = await driver.db.rows(driver.ledger.executions)
            return held_ids <= {r.id for r in rows}

        await async_wait_for(written, timeout=20, what="the held batch committed")
        await asyncio.to_thread(victim.kill)
        redis_proxy.cut("reset")
        assert held_ids <= _record_ids(await asyncio.to_thread(stack.broker.unacked_batches))
        redis_proxy.restore()
        successor = await asyncio.to_thread(stack.add_worker)
        await producer

        held_batch_ids = {str(b["batch_id"]) for b in held if isinstance(b, dict)}

        def rewrites() -> list[str]:
            # Leaving the unacked set is not enough: a restored message sits in the queue until
            # the successor takes it, so wait for the successor's own line for every held batch.
            lines = [
                line
                for line in successor.log_text().splitlines()
                if "succeeded" in line and any(b in line for b in held_batch_ids)
            ]
            done = {b for b in held_batch_ids if any(b in line for line in lines)}
            return lines if done == held_batch_ids else []

        rewritten = await async_wait_for(
            lambda: asyncio.to_thread(rewrites),
            timeout=60,
            what="the new worker's log of the killed worker's batch",
        )

        async def acked() -> bool:
            pending = _record_ids(await asyncio.to_thread(stack.broker.unacked_batches))
            return not (held_ids & pending)

        await async_wait_for(acked, timeout=30, what="the redelivered batch acked")
        report = await driver.wait_stored(timeout=60)
        rejects = await driver.db.rejects()
    assert report.produced == 1600, report
    assert report.ok, report
    assert rejects == []
    assert all("'written': 0" in line for line in rewritten), rewritten
    print(f"worker SIGKILL: {len(held)} batch(es) of {len(held_ids)} records redelivered; {report}")
