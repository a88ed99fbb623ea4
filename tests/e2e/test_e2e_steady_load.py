"""Scenario 1: steady load from many concurrent executions; everything stored once, in order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from execlog_stack.load import LoadDriver, check_order, compare
from execlog_stack.stack import Stack

pytestmark = pytest.mark.timeout(180)

EXECUTIONS = 40
RECORDS = 50


async def test_e2e_steady_load_all_stored_in_order(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(workers=1)
    async with LoadDriver(stack.api_url, stack.logs_database_url, concurrency=20) as driver:
        await driver.produce(executions=EXECUTIONS, records_per_execution=RECORDS, batch_size=10)
        report = await driver.wait_stored(timeout=60)
        assert report.produced == EXECUTIONS * RECORDS, report
        assert report.ok, report
        assert driver.ledger.ids == {r.id for r in await driver.stored_rows() if r.run}
        by_execution = await driver.read_back_all()
    via_api = compare(
        driver.ledger, [r for rows in by_execution.values() for r in rows], driver.run_id
    )
    assert via_api.ok, via_api
    assert check_order(driver.ledger, by_execution) == []
    print(f"steady load: {report}")
