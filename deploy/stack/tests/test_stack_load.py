"""Accounting of the load driver (pure parts): ledger, compare, order check, rate limiter."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from execlog_stack.load import Ledger, RateLimiter, StoredRow, check_order, compare

RUN = "run1"


def _ledger(n: int) -> tuple[Ledger, uuid.UUID, list[uuid.UUID]]:
    ledger = Ledger()
    execution = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(n)]
    ledger.add(execution, 0, ids)
    return ledger, execution, ids


def _row(record_id: uuid.UUID, execution: uuid.UUID, seq: int, run: str = RUN) -> StoredRow:
    now = datetime.now(UTC)
    return StoredRow(record_id, execution, run, seq, now - timedelta(seconds=0.25), now)


def test_exact_delivery_is_ok() -> None:
    ledger, execution, ids = _ledger(4)
    report = compare(ledger, [_row(i, execution, s) for s, i in enumerate(ids)], RUN)
    assert report.ok
    assert (report.produced, report.stored, report.lost, report.duplicated) == (4, 4, 0, 0)
    assert report.latency(0.5) == 0.25


def test_lost_duplicated_unexpected_and_foreign_rows() -> None:
    ledger, execution, ids = _ledger(4)
    rows = [
        _row(ids[0], execution, 0),
        _row(ids[0], execution, 0),
        _row(uuid.uuid4(), execution, 1),
        _row(ids[1], execution, 1),
        _row(uuid.uuid4(), execution, 9, run="another run"),
    ]
    report = compare(ledger, rows, RUN)
    assert not report.ok
    assert report.lost == 2
    assert set(report.lost_ids) == {ids[2], ids[3]}
    assert report.duplicated == 2
    assert report.unexpected == 1


def test_reissued_ids_are_counted_once() -> None:
    ledger, execution, ids = _ledger(2)
    ledger.add(execution, 2, [ids[0]])
    assert len(ledger) == 2
    assert ledger.reissued == 1


def test_order_check() -> None:
    ledger, execution, ids = _ledger(3)
    rows = [_row(i, execution, s) for s, i in enumerate(ids)]
    assert check_order(ledger, {execution: rows}) == []
    assert check_order(ledger, {execution: [rows[1], rows[0], rows[2]]}) == [execution]
    assert check_order(ledger, {execution: rows[:2]}) == [execution]


def test_rate_limiter_spaces_tokens() -> None:
    async def spend() -> float:
        limiter = RateLimiter(200.0)
        began = time.monotonic()
        for _ in range(5):
            await limiter.acquire(10)
        return time.monotonic() - began

    assert asyncio.run(spend()) >= 0.19
    assert asyncio.run(_unlimited()) < 0.05


async def _unlimited() -> float:
    limiter = RateLimiter(None)
    began = time.monotonic()
    for _ in range(100):
        await limiter.acquire(1000)
    return time.monotonic() - began
