"""LogBuffer: size/age triggers, batch caps, flush acknowledgements, memory limits (pure logic)."""

from __future__ import annotations

import pytest

from execlog_producer.buffer import LogBuffer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kw: int | float) -> LogBuffer[int]:
    args: dict[str, int | float] = {
        "buffer_size": 5,
        "flush_interval": 2.0,
        "max_records": 100,
        "max_bytes": 10_000,
    }
    args.update(kw)
    return LogBuffer(clock=clock, **args)  # type: ignore[arg-type]


def test_buffer_size_trigger() -> None:
    clock = Clock()
    buf = make(clock)
    for i in range(4):
        buf.append(i, 10)
    assert not buf.flush_due()
    buf.append(4, 10)
    assert buf.flush_due()


def test_buffer_age_trigger() -> None:
    clock = Clock()
    buf = make(clock)
    assert buf.seconds_until_due() is None
    buf.append(1, 10)
    clock.now += 0.5
    buf.append(2, 10)
    assert not buf.flush_due()
    assert buf.seconds_until_due() == pytest.approx(1.5)
    clock.now += 1.5
    assert buf.flush_due()
    assert buf.seconds_until_due() == 0.0


def test_buffer_take_is_fifo_and_capped() -> None:
    clock = Clock()
    buf = make(clock)
    for i in range(12):
        buf.append(i, 10)
    with buf.cond:
        first = buf.take(5)
        second = buf.take(100)
    assert first is not None
    assert second is not None
    assert first.records == [0, 1, 2, 3, 4]
    assert second.records == list(range(5, 12))
    assert buf.depth == 0
    assert buf.nbytes == 0


def test_buffer_take_respects_bytes_but_takes_at_least_one() -> None:
    clock = Clock()
    buf = make(clock)
    for i in range(3):
        buf.append(i, 400)
    with buf.cond:
        taken = buf.take(10, max_bytes=900)
        alone = buf.take(10, max_bytes=10)
    assert taken is not None
    assert taken.records == [0, 1]
    assert alone is not None
    assert alone.records == [2]


def test_buffer_flush_request_resolves_when_done() -> None:
    clock = Clock()
    buf = make(clock)
    for i in range(3):
        buf.append(i, 10)
    future = buf.request_flush()
    assert buf.flush_due()
    assert not future.done()
    with buf.cond:
        taken = buf.take(2)
    assert taken is not None
    buf.done(taken)
    assert not future.done()
    with buf.cond:
        rest = buf.take(10)
    assert rest is not None
    buf.append(99, 10)
    buf.done(rest)
    assert future.result(0) == 3


def test_buffer_flush_waits_for_in_flight_batch() -> None:
    clock = Clock()
    buf = make(clock)
    buf.append(1, 10)
    with buf.cond:
        taken = buf.take(10)
    assert taken is not None
    future = buf.request_flush()
    assert not future.done()
    buf.done(taken)
    assert future.result(0) == 1


def test_buffer_flush_with_nothing_pending_is_immediate() -> None:
    buf = make(Clock())
    assert buf.request_flush().result(0) == 0


def test_buffer_soft_and_hard_limits() -> None:
    clock = Clock()
    buf = make(clock, max_records=4, max_bytes=10_000)
    for i in range(4):
        assert buf.append(i, 10)
    assert not buf.over_limit()
    assert buf.append(4, 10)
    assert buf.over_limit()
    for i in range(5, 8):
        assert buf.append(i, 10)
    assert not buf.append(8, 10)
    assert buf.depth == 8


def test_buffer_byte_limit() -> None:
    buf = make(Clock(), max_records=1000, max_bytes=1000)
    assert buf.append(1, 900)
    assert not buf.over_limit()
    assert buf.append(2, 200)
    assert buf.over_limit()
    assert not buf.append(3, 1000)


def test_buffer_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        LogBuffer(buffer_size=0, flush_interval=1, max_records=1, max_bytes=1)
