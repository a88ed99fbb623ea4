"""Scenario 3: two workers consume the same queue; every record is stored exactly once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from execlog_stack.load import LoadDriver
from execlog_stack.stack import Stack

pytestmark = pytest.mark.timeout(150)


async def test_e2e_two_workers_share_the_queue(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(workers=2, worker_concurrency=1)
    async with LoadDriver(stack.api_url, stack.logs_database_url, concurrency=20) as driver:
        await driver.produce(executions=30, records_per_execution=60, batch_size=5)
        report = await driver.wait_stored(timeout=60)
        rejects = await driver.db.rejects()
    counts = stack.broker.task_counts()
    assert report.produced == 1800, report
    assert report.ok, report
    assert rejects == []
    assert len(counts) == 2, counts
    assert all(n > 0 for n in counts.values()), f"a worker got no task: {counts}"
    print(f"two workers: tasks per worker {counts}; {report}")
