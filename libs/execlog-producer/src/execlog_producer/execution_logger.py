"""ExecutionLogger: the producer. ``log()`` returns at once; threads ship batches off the loop.

Threads (both daemon, started by :meth:`ExecutionLogger.start` or the first ``log()``):

- ``execlog-sender`` takes a batch when ``buffer_size`` records wait, the oldest waited
  ``flush_interval``, a flush was requested, or on close. One take holds everything waiting,
  up to ``MAX_RECORDS_PER_BATCH`` (the size trigger is a minimum, not a cap). It delivers
  through :class:`DeliveryChain` (broker -> HTTP fallback -> disk spool) and replays the spool
  oldest first: at start, every ``replay_interval`` while files wait (at once when the broker
  answers again; not while every transport is in back-off), and every
  ``idle_rescan_interval`` otherwise, to pick up files a crashed sibling process left.
- ``execlog-spill`` runs only while the buffer is over its soft limit (``max_records`` or
  ``max_bytes``): it moves the oldest records straight to the disk spool so memory stays
  bounded while the broker is slow. If even that cannot keep up and the buffer reaches twice
  the limit (a burst faster than the disk), ``log()`` itself spools the oldest batch before
  queueing (back-pressure on the caller, one fsync per batch), so nothing is dropped.
  Records are dropped (and counted in ``execlog_records_dropped``) only when the spool
  cannot be written (disk full, LOG_SPOOL_MAX_BYTES reached, I/O error).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson
import structlog

from execlog_producer._version import __version__
from execlog_producer.buffer import LogBuffer, Taken
from execlog_producer.delivery.chain import DeliveryChain, Route
from execlog_producer.delivery.errors import SpoolError
from execlog_producer.metrics import LoggerMetrics
from execlog_producer.redaction import DEFAULT_REDACT_KEYS, SensitiveKeys
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.limits import MAX_RECORDS_PER_BATCH
from execlog_schema.models import LogBatch, LogLevel, LogRecord, Producer
from execlog_schema.payload import PayloadConverter

ExecutionLog: TypeAlias = LogRecord
"""What ``log()`` returns: the contract record, id included (made by the producer)."""

_log = structlog.get_logger("execlog_producer")

_RECORD_OVERHEAD = 320


@dataclass(frozen=True)
class LoggerConfig:
    """Buffering, limits and timing of one ExecutionLogger."""

    buffer_size: int = 50
    flush_interval: float = 2.0
    max_records: int = 10_000
    max_bytes: int = 32 * 1024 * 1024
    max_batch_records: int = MAX_RECORDS_PER_BATCH
    max_batch_bytes: int = 4 * 1024 * 1024
    replay_interval: float = 5.0
    idle_rescan_interval: float = 60.0
    replay_batches_per_round: int = 50
    shutdown_timeout: float = 30.0
    default_component: str = "app"
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_records <= MAX_RECORDS_PER_BATCH:
            raise ValueError(f"max_batch_records must be 1..{MAX_RECORDS_PER_BATCH}")


@dataclass
class _State:
    buffer: LogBuffer[LogRecord]
    pid: int = field(default_factory=os.getpid)
    chain: DeliveryChain | None = None
    sender: threading.Thread | None = None
    spill: threading.Thread | None = None
    stopping: bool = False
    next_replay: float = 0.0


class ExecutionLogger:
    """Buffered, non-blocking producer of execution logs (see the module doc)."""

    def __init__(
        self,
        chain_factory: Callable[[], DeliveryChain],
        config: LoggerConfig | None = None,
        *,
        metrics: LoggerMetrics | None = None,
        producer: Producer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or LoggerConfig()
        self.metrics = metrics or LoggerMetrics()
        self.producer = producer or make_producer("execlog-producer", __version__)
        self.payloads = PayloadConverter(SensitiveKeys(self.config.redact_keys).__getitem__)
        self._chain_factory = chain_factory
        self._clock = clock
        self._lifecycle = threading.Lock()
        self._closed = False
        self._started = False
        self._state = self._new_state()
        self._warned_at = 0.0
        ref = weakref.ref(self)

        def after_fork_in_child() -> None:
            logger = ref()
            if logger is not None:
                logger._after_fork()

        os.register_at_fork(after_in_child=after_fork_in_child)

    @property
    def buffer(self) -> LogBuffer[LogRecord]:
        """The in-memory buffer (for metrics and tests)."""
        return self._state.buffer

    @property
    def chain(self) -> DeliveryChain | None:
        """The delivery chain, once started."""
        return self._state.chain

    @property
    def running(self) -> bool:
        """Whether the sender thread is alive."""
        sender = self._state.sender
        return sender is not None and sender.is_alive()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._closed

    def _new_state(self) -> _State:
        c = self.config
        buffer: LogBuffer[LogRecord] = LogBuffer(
            buffer_size=c.buffer_size,
            flush_interval=c.flush_interval,
            max_records=c.max_records,
            max_bytes=c.max_bytes,
            clock=self._clock,
        )
        return _State(buffer=buffer)

    def _after_fork(self) -> None:
        self._lifecycle = threading.Lock()
        old = self._state
        self._state = self._new_state()
        self._started = False
        if old.chain is not None:
            old.chain.spool._active = None

    def start(self) -> None:
        """Start the sender and spill threads (idempotent; replays the spool first thing)."""
        with self._lifecycle:
            if self._started or self._closed:
                return
            state = self._state
            state.chain = self._chain_factory()
            state.chain.spool.on_append = self.metrics.spooled_bytes.inc
            state.chain.on_failure = self._send_failed
            state.next_replay = self._clock()
            state.sender = threading.Thread(
                target=self._sender_main, name="execlog-sender", daemon=True
            )
            state.spill = threading.Thread(
                target=self._spill_main, name="execlog-spill", daemon=True
            )
            self._started = True
            state.sender.start()
            state.spill.start()
            self._update_spool_gauges()

    def log(
        self,
        execution_id: uuid.UUID | str,
        level: LogLevel | str | int,
        message: str,
        *,
        node_id: str | None = None,
        component: str | None = None,
        payload: Mapping[str, Any] | None = None,
        workflow_id: uuid.UUID | str | None = None,
        attempt: int | None = None,
        error: BaseException | None = None,
    ) -> ExecutionLog:
        """Build a record (id included), queue it and return it; never waits for I/O.

        Raises ValueError/TypeError only for programmer errors (an id that is not a UUID,
        an unknown level, a bad ``attempt``); payload data problems are fixed, never raised.
        """
        if error is not None:
            payload = {**payload, "error": error} if payload else {"error": error}
        record = new_record(
            execution_id=execution_id,
            level=level,
            message=message,
            node_id=node_id,
            component=component or self.config.default_component,
            payload=payload,
            workflow_id=workflow_id,
            attempt=attempt,
            converter=self.payloads,
        )
        self.enqueue(record)
        return record

    def enqueue(self, record: LogRecord) -> None:
        """Queue an already built record (``log()`` does this for you)."""
        if self._closed:
            self._spool_now([record], reason="closed")
            return
        if not self._started:
            self.start()
        size = _RECORD_OVERHEAD + len(record.message) + len(orjson.dumps(record.payload))
        self.metrics.records_logged.inc()
        buffer = self._state.buffer
        if not buffer.append(record, size):
            self._backpressure(record, size)
        self.metrics.buffer_depth.set(buffer.depth)

    def _backpressure(self, record: LogRecord, size: int) -> None:
        """Hard limit reached: spool the oldest batch on the caller's thread, then queue."""
        buffer = self._state.buffer
        with buffer.cond:
            taken = buffer.take(self.config.max_batch_records, self.config.max_batch_bytes)
        if taken is not None:
            try:
                self._spool_now(taken.records, reason="backpressure")
                self._replay_soon()
            finally:
                buffer.done(taken)
        if not buffer.append(record, size):
            self._spool_now([record], reason="backpressure")
        now = self._clock()
        if now - self._warned_at > 5.0:
            self._warned_at = now
            _log.warning("execlog_buffer_backpressure", depth=buffer.depth)

    def debug(self, execution_id: uuid.UUID | str, message: str, **kw: Any) -> ExecutionLog:
        """``log(execution_id, DEBUG, message, ...)``."""
        return self.log(execution_id, LogLevel.DEBUG, message, **kw)

    def info(self, execution_id: uuid.UUID | str, message: str, **kw: Any) -> ExecutionLog:
        """``log(execution_id, INFO, message, ...)``."""
        return self.log(execution_id, LogLevel.INFO, message, **kw)

    def warning(self, execution_id: uuid.UUID | str, message: str, **kw: Any) -> ExecutionLog:
        """``log(execution_id, WARNING, message, ...)``."""
        return self.log(execution_id, LogLevel.WARNING, message, **kw)

    def error(self, execution_id: uuid.UUID | str, message: str, **kw: Any) -> ExecutionLog:
        """``log(execution_id, ERROR, message, ...)``."""
        return self.log(execution_id, LogLevel.ERROR, message, **kw)

    def critical(self, execution_id: uuid.UUID | str, message: str, **kw: Any) -> ExecutionLog:
        """``log(execution_id, CRITICAL, message, ...)``."""
        return self.log(execution_id, LogLevel.CRITICAL, message, **kw)

    async def flush(self, timeout: float | None = None) -> int:
        """Ship every record logged before this call; returns how many were waiting."""
        if self._closed or not self._started:
            return 0
        future = self._state.buffer.request_flush()
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def flush_sync(self, timeout: float | None = None) -> int:
        """Blocking :meth:`flush` for code without an event loop (never call it on the loop)."""
        if self._closed or not self._started:
            return 0
        return self._state.buffer.request_flush().result(timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        """:meth:`close` in a worker thread, so the loop keeps running meanwhile."""
        await asyncio.to_thread(self.close, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Ship (or spool) everything buffered, stop the threads, close transports."""
        limit = self.config.shutdown_timeout if timeout is None else timeout
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            state = self._state
        deadline = time.monotonic() + limit
        buffer = state.buffer
        with buffer.cond:
            state.stopping = True
            buffer.cond.notify_all()
        for thread in (state.sender, state.spill):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        self._spool_leftovers(state)
        if state.chain is not None and not self.running:
            state.chain.close()
        elif state.chain is not None:
            state.chain.spool.seal()
        self._update_spool_gauges()

    def state(self) -> dict[str, Any]:
        """A snapshot for /readyz and debugging."""
        chain = self._state.chain
        return {
            "running": self.running,
            "closed": self._closed,
            "buffer_depth": self._state.buffer.depth,
            "buffer_bytes": self._state.buffer.nbytes,
            "broker_ok": None if chain is None else chain.broker_breaker.ok,
            "http_fallback_ok": (
                None if chain is None or chain.http is None else chain.http_breaker.ok
            ),
            "spool_pending_bytes": self.metrics.value("execlog_spool_pending_bytes"),
            "records_dropped": self.metrics.dropped_total(),
        }

    def _send_failed(self, transport: str, error: str) -> None:
        self.metrics.send_failures.labels(transport=transport).inc()
        _log.warning("execlog_send_failed", transport=transport, error=error)

    def _sender_main(self) -> None:
        state = self._state
        buffer = state.buffer
        while True:
            taken: Taken[LogRecord] | None = None
            replay = False
            with buffer.cond:
                while True:
                    if buffer.depth and (state.stopping or buffer.flush_due()):
                        taken = buffer.take(
                            self.config.max_batch_records, self.config.max_batch_bytes
                        )
                        break
                    if state.stopping:
                        return
                    now = self._clock()
                    if now >= state.next_replay:
                        replay = True
                        break
                    wait = state.next_replay - now
                    due = buffer.seconds_until_due(now)
                    if due is not None:
                        wait = min(wait, due)
                    buffer.cond.wait(max(0.001, wait))
            try:
                if taken is not None:
                    self._ship(state, taken)
                elif replay:
                    self._replay(state)
            except Exception:  # the sender thread must survive anything
                _log.exception("execlog_sender_error")

    def _ship(self, state: _State, taken: Taken[LogRecord]) -> None:
        chain = state.chain
        assert chain is not None
        m = self.metrics
        try:
            batch = new_batch(taken.records, self.producer)
            broker_was_ok = chain.broker_breaker.ok
            started = time.perf_counter()
            try:
                route = chain.deliver(batch)
            except SpoolError as exc:
                m.records_dropped.labels(reason="spool_failed").inc(len(taken.records))
                _log.error("execlog_records_dropped", records=len(taken.records), error=str(exc))
                return
            m.send_seconds.observe(time.perf_counter() - started)
            m.batch_records.observe(len(batch.records))
            if route is Route.REJECTED:
                m.batches_refused.inc()
                m.fallbacks.labels(target="http").inc()
            elif route is Route.SPOOL:
                self._count_spooled(len(batch.records), "send_failed")
                m.fallbacks.labels(target="spool").inc()
                self._replay_soon()
            else:
                m.batches_sent.labels(route=route.value, origin="live").inc()
                m.records_sent.labels(route=route.value, origin="live").inc(len(batch.records))
                if route is Route.HTTP:
                    m.fallbacks.labels(target="http").inc()
                elif not broker_was_ok:
                    state.next_replay = self._clock()
            m.broker_publish_ok.set(1 if chain.broker_breaker.ok else 0)
        finally:
            state.buffer.done(taken)
            m.buffer_depth.set(state.buffer.depth)
            m.buffer_bytes.set(state.buffer.nbytes)

    def _replay_soon(self) -> None:
        state = self._state
        state.next_replay = min(state.next_replay, self._clock() + self.config.replay_interval)

    def _replay(self, state: _State) -> None:
        chain = state.chain
        assert chain is not None
        m = self.metrics
        now = self._clock()
        if not chain.spool.has_pending():
            state.next_replay = now + self.config.idle_rescan_interval
            return
        blocked = [chain.broker_breaker]
        if chain.http is not None:
            blocked.append(chain.http_breaker)
        if not any(b.allows() for b in blocked):
            wait = min(b.seconds_until_probe() for b in blocked)
            state.next_replay = now + max(0.01, min(wait, self.config.replay_interval))
            return

        def send(batch: LogBatch) -> None:
            route = chain.send_network(batch)
            if route is Route.REJECTED:
                m.batches_refused.inc()
                return
            m.batches_sent.labels(route=route.value, origin="replay").inc()
            m.records_sent.labels(route=route.value, origin="replay").inc(len(batch.records))

        result = chain.spool.replay(send, max_batches=self.config.replay_batches_per_round)
        if result.records:
            m.replayed_records.inc(result.records)
            _log.info(
                "execlog_spool_replayed",
                batches=result.batches,
                records=result.records,
                files_done=result.files_done,
            )
        if result.corrupt_lines:
            m.spool_corrupt_lines.inc(result.corrupt_lines)
            _log.error("execlog_spool_corrupt_lines", lines=result.corrupt_lines)
        m.broker_publish_ok.set(1 if chain.broker_breaker.ok else 0)
        more = result.stopped_by_error is None and result.batches >= (
            self.config.replay_batches_per_round
        )
        delay = 0.0 if more else self.config.replay_interval
        state.next_replay = self._clock() + delay
        self._update_spool_gauges()

    def _spill_main(self) -> None:
        state = self._state
        buffer = state.buffer
        while True:
            with buffer.cond:
                while not buffer.over_limit():
                    if state.stopping:
                        return
                    buffer.cond.wait()
                taken = buffer.take(self.config.max_batch_records, self.config.max_batch_bytes)
            if taken is None:
                continue
            try:
                self._spool_now(taken.records, reason="overflow")
                self._replay_soon()
            finally:
                buffer.done(taken)
                self.metrics.buffer_depth.set(buffer.depth)
                self.metrics.buffer_bytes.set(buffer.nbytes)

    def _spool_leftovers(self, state: _State) -> None:
        buffer = state.buffer
        while True:
            with buffer.cond:
                taken = buffer.take(self.config.max_batch_records, self.config.max_batch_bytes)
            if taken is None:
                break
            try:
                self._spool_now(taken.records, reason="closed")
            finally:
                buffer.done(taken)
        self.metrics.buffer_depth.set(buffer.depth)
        self.metrics.buffer_bytes.set(buffer.nbytes)

    def _spool_now(self, records: Iterable[LogRecord], *, reason: str) -> None:
        batch_records = list(records)
        chain = self._state.chain
        if chain is None:
            chain = self._state.chain = self._chain_factory()
            chain.spool.on_append = self.metrics.spooled_bytes.inc
        try:
            chain.spool.append(new_batch(batch_records, self.producer))
            if self._closed:
                chain.spool.seal()
        except SpoolError as exc:
            self.metrics.records_dropped.labels(reason="spool_failed").inc(len(batch_records))
            _log.error("execlog_records_dropped", records=len(batch_records), error=str(exc))
            return
        self._count_spooled(len(batch_records), reason)

    def _count_spooled(self, n: int, reason: str) -> None:
        self.metrics.spooled_records.labels(reason=reason).inc(n)
        self._update_spool_gauges()

    def _update_spool_gauges(self) -> None:
        chain = self._state.chain
        if chain is None:
            return
        files = chain.spool.files()
        total = 0
        for path in files:
            try:
                total += path.stat().st_size
            except OSError:
                continue
        self.metrics.spool_pending_files.set(len(files))
        self.metrics.spool_pending_bytes.set(total)
