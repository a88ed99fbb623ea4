"""``python -m execlog_bench.write_methods`` measures both write methods and drops its database."""

from __future__ import annotations

from execlog_bench.write_methods import run
from execlog_worker.settings import Settings


async def test_write_methods_reports_a_rate_per_method() -> None:
    rates = await run(Settings(), batches=2, size=5, rounds=1, coalesce=1, concurrency=1)
    assert set(rates) == {"unnest", "copy"}
    assert all(len(values) == 1 and values[0] > 0 for values in rates.values())
