"""Scenario 9: a burst of ten times the sustained rate; API memory stays bounded, nothing lost.

Records come at a sustained rate, then at ten times that rate, then at the sustained rate
again. The API's buffer limits are made small (soft limit 60 records / 1 MiB; the buffer's
hard limit is twice that) and burst requests carry 100 records each, so the buffer passes
its soft limit and the spill thread moves records to the disk spool instead of growing
memory (they are replayed from there). Asserted: the API's resident memory (sampled every 50 ms)
never grows more than ``2 * LOG_MAX_BUFFERED_BYTES + 48 MiB`` (interpreter and HTTP
overhead) over its level before the burst; no record dropped (metric) and every record
stored exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from execlog_stack.load import LoadDriver
from execlog_stack.stack import Stack

pytestmark = pytest.mark.timeout(180)

SUSTAINED = 150.0
BURST = 10 * SUSTAINED
MAX_BYTES = 1024 * 1024
SLACK = 48 * 1024 * 1024
API_ENV = {
    "LOG_MAX_BUFFERED_RECORDS": "60",
    "LOG_MAX_BUFFERED_BYTES": str(MAX_BYTES),
}


class RssSampler:
    """Samples a process' resident memory in a thread until stopped."""

    def __init__(self, read: Callable[[], int], interval: float = 0.05) -> None:
        self.read = read
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.read())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_e2e_burst_keeps_api_memory_bounded(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(workers=1, api_env=API_ENV)
    api = stack.api
    assert api is not None
    async with LoadDriver(stack.api_url, stack.logs_database_url, concurrency=16) as driver:
        ids = await driver.create_executions(16)
        await driver.produce(
            executions=0,
            execution_ids=ids,
            records_per_execution=30,
            batch_size=10,
            rate=SUSTAINED,
            message_size=500,
        )
        baseline = api.rss_bytes()
        with RssSampler(api.rss_bytes) as sampler:
            began = time.monotonic()
            await driver.produce(
                executions=0,
                execution_ids=ids,
                records_per_execution=300,
                batch_size=100,
                rate=BURST,
                message_size=500,
            )
            burst_seconds = time.monotonic() - began
            await driver.produce(
                executions=0,
                execution_ids=ids,
                records_per_execution=20,
                batch_size=10,
                rate=SUSTAINED,
                message_size=500,
            )
        report = await driver.wait_stored(timeout=90)
    dropped = stack.api_metric("execlog_records_dropped_total")
    spilled = stack.api_metric("execlog_spooled_records_total")
    peak = max(sampler.samples)
    growth = peak - baseline
    achieved = 16 * 300 / burst_seconds
    print(
        f"burst: {achieved:.0f} records/s for {burst_seconds:.1f}s (target {BURST:.0f}); "
        f"API RSS {baseline / 2**20:.1f} MiB -> peak {peak / 2**20:.1f} MiB "
        f"(+{growth / 2**20:.1f} MiB, bound +{(2 * MAX_BYTES + SLACK) / 2**20:.0f} MiB); "
        f"{spilled:.0f} records spilled to the spool; {report}"
    )
    assert dropped == 0
    assert spilled > 0, "the burst never passed the buffer's soft limit"
    assert growth <= 2 * MAX_BYTES + SLACK
    assert report.produced == 16 * 350, report
    assert report.ok, report
