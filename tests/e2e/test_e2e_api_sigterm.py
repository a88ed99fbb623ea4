"""Scenario 6: the API stopped with SIGTERM while its log buffer is half full.

The buffer is made large and slow (2000 records, 10 min age trigger) so that records sit in
memory. Phase 1: SIGTERM with the broker up: the shutdown flush sends them. Phase 2: the
same with Redis down and the HTTP fallback off: the shutdown flush spools them to disk, and
the next API start replays the spool. Every record of both phases arrives exactly once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import pytest

from execlog_stack.load import LoadDriver
from execlog_stack.stack import Stack

pytestmark = pytest.mark.timeout(180)

CLEAN_EXIT = (0, -signal.SIGTERM)
"""uvicorn re-raises SIGTERM after a graceful shutdown, so either status means "clean"."""
BUFFER = 2000
SLOW_BUFFER_ENV = {
    "LOG_BUFFER_SIZE": str(BUFFER),
    "LOG_FLUSH_INTERVAL": "600",
    "LOG_MAX_BUFFERED_RECORDS": str(2 * BUFFER),
}


def _half_full(stack: Stack) -> int:
    depth = int(stack.api_logger_state()["buffer_depth"])
    assert BUFFER // 2 <= depth < BUFFER, f"buffer depth {depth} is not about half of {BUFFER}"
    return depth


async def test_e2e_api_sigterm_flushes_then_spools(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(own_redis=True, workers=1, api_env=SLOW_BUFFER_ENV)
    redis, api = stack.redis, stack.api
    assert redis is not None
    assert api is not None
    async with LoadDriver(stack.api_url, stack.logs_database_url, concurrency=10) as driver:
        await driver.produce(executions=20, records_per_execution=50, batch_size=25)
        depth_1 = await asyncio.to_thread(_half_full, stack)
        assert await asyncio.to_thread(api.stop) in CLEAN_EXIT
        first = await driver.wait_stored(timeout=60)
        assert first.ok, first

        api = await asyncio.to_thread(stack.start_api, {"LOG_HTTP_FALLBACK": "false"})
        executions = driver.ledger.executions
        await driver.produce(
            executions=0, records_per_execution=50, batch_size=25, execution_ids=executions
        )
        depth_2 = await asyncio.to_thread(_half_full, stack)
        await asyncio.to_thread(redis.stop)
        assert await asyncio.to_thread(api.stop) in CLEAN_EXIT
        spooled = sorted(p.name for p in stack.spool_dir.glob("*.jsonl"))
        assert spooled, "the shutdown flush did not spool anything"

        await asyncio.to_thread(redis.start)
        await asyncio.to_thread(stack.start_api)
        report = await driver.wait_stored(timeout=90)
        rejects = await driver.db.rejects()
    assert report.produced == 2000, report
    assert report.ok, report
    assert rejects == []
    assert not list(stack.spool_dir.glob("*.jsonl")), "the spool was not emptied by the replay"
    print(f"api SIGTERM: buffer {depth_1} then {depth_2} records; spool files {spooled}; {report}")
