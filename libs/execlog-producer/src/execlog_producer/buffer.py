"""Thread-safe record buffer: size/age flush triggers, memory limits and flush acknowledgements.

The event loop thread only calls :meth:`LogBuffer.append` (a deque append under a lock held
for microseconds). Sender and spill threads :meth:`take` batches and report them
:meth:`done` once delivered (or spooled); :meth:`request_flush` returns a future that
resolves when every record appended before the call is done.

Limits: ``max_records``/``max_bytes`` is the soft limit: above it :meth:`over_limit` is true
and the spill thread moves the oldest records to the disk spool. Twice that is the hard
limit: :meth:`append` refuses the record and the caller spools synchronously (back-pressure).
The hard limit is only reached when a burst outpaces the spill thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Item(Generic[T]):
    seq: int
    record: T
    size: int
    enqueued_at: float


@dataclass(slots=True)
class Taken(Generic[T]):
    """Records removed from the buffer for one delivery; give it back to :meth:`LogBuffer.done`."""

    start: int
    records: list[T]
    nbytes: int


class LogBuffer(Generic[T]):
    """FIFO of records with flush triggers (size, age, explicit) and soft/hard memory limits."""

    def __init__(
        self,
        *,
        buffer_size: int,
        flush_interval: float,
        max_records: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if buffer_size < 1 or flush_interval <= 0 or max_records < 1 or max_bytes < 1:
            raise ValueError("buffer sizes and interval must be positive")
        self.buffer_size = buffer_size
        self.flush_interval = flush_interval
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.clock = clock
        self.cond = threading.Condition(threading.Lock())
        self._items: deque[_Item[T]] = deque()
        self._bytes = 0
        self._next_seq = 0
        self._in_flight: dict[int, int] = {}
        self._waiters: list[tuple[int, int, Future[int]]] = []

    @property
    def depth(self) -> int:
        """Records waiting (not yet taken)."""
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Estimated bytes waiting."""
        return self._bytes

    @property
    def appended(self) -> int:
        """Records ever appended."""
        return self._next_seq

    def append(self, record: T, size: int) -> bool:
        """Queue ``record``; False (nothing queued) when the hard limit is reached."""
        with self.cond:
            if len(self._items) >= 2 * self.max_records or self._bytes + size > 2 * self.max_bytes:
                return False
            self._items.append(_Item(self._next_seq, record, size, self.clock()))
            self._next_seq += 1
            self._bytes += size
            n = len(self._items)
            if n == 1 or n == self.buffer_size or self.over_limit():
                self.cond.notify_all()
        return True

    def over_limit(self) -> bool:
        """Whether the soft limit is exceeded (call with or without ``cond`` held)."""
        return len(self._items) > self.max_records or self._bytes > self.max_bytes

    def flush_due(self, now: float | None = None) -> bool:
        """Whether a flush should happen now: size reached, oldest too old, or flush requested."""
        if not self._items:
            return False
        if len(self._items) >= self.buffer_size or self._flush_requested():
            return True
        t = self.clock() if now is None else now
        return t - self._items[0].enqueued_at >= self.flush_interval

    def seconds_until_due(self, now: float | None = None) -> float | None:
        """Seconds until the age trigger fires (0 when due), None when the buffer is empty."""
        if not self._items:
            return None
        if self.flush_due(now):
            return 0.0
        t = self.clock() if now is None else now
        return max(0.0, self._items[0].enqueued_at + self.flush_interval - t)

    def take(self, max_records: int, max_bytes: int | None = None) -> Taken[T] | None:
        """Remove up to ``max_records`` oldest records (about ``max_bytes``); caller holds cond."""
        if not self._items or max_records < 1:
            return None
        start = self._items[0].seq
        records: list[T] = []
        nbytes = 0
        while self._items and len(records) < max_records:
            head = self._items[0]
            if records and max_bytes is not None and nbytes + head.size > max_bytes:
                break
            self._items.popleft()
            records.append(head.record)
            nbytes += head.size
        self._bytes -= nbytes
        self._in_flight[start] = start + len(records)
        return Taken(start, records, nbytes)

    def done(self, taken: Taken[T]) -> None:
        """Mark a taken batch as delivered or spooled; resolves satisfied flush requests."""
        with self.cond:
            self._in_flight.pop(taken.start, None)
            self._resolve()
            self.cond.notify_all()

    def request_flush(self) -> Future[int]:
        """A future resolved (with the number of records it covered) once they are all done."""
        future: Future[int] = Future()
        with self.cond:
            marker = self._next_seq
            low = self._low_watermark()
            if low >= marker:
                future.set_result(0)
                return future
            self._waiters.append((marker, marker - low, future))
            self.cond.notify_all()
        return future

    def fail_waiters(self, error: BaseException) -> None:
        """Fail every pending flush request (used when the logger stops without a sender)."""
        with self.cond:
            waiters, self._waiters = self._waiters, []
        for _, _, future in waiters:
            if not future.done():
                future.set_exception(error)

    def _flush_requested(self) -> bool:
        return bool(self._waiters) and self._items[0].seq < max(m for m, _, _ in self._waiters)

    def _low_watermark(self) -> int:
        low = self._items[0].seq if self._items else self._next_seq
        if self._in_flight:
            low = min(low, min(self._in_flight))
        return low

    def _resolve(self) -> None:
        if not self._waiters:
            return
        low = self._low_watermark()
        remaining: list[tuple[int, int, Future[int]]] = []
        for marker, count, future in self._waiters:
            if marker <= low:
                if not future.done():
                    future.set_result(count)
            else:
                remaining.append((marker, count, future))
        self._waiters = remaining
