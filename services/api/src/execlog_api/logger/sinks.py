"""Other destinations for ``log()``, for measurement and comparison (LOG_SINK).

- ``celery`` (default): :class:`ExecutionLogger` itself, through the queue.
- ``off``: :class:`DiscardingLogger` builds each record exactly as ``celery`` does (same
  caller cost, same returned record) and discards it: the app's own cost, as a baseline.
- ``direct``: :class:`DirectWriteLogger` is the design execlog replaces: every record is one
  INSERT + commit through the API's own connection pool (into ``execution_logs_direct`` in the
  API database, made on first use). ``log()`` cannot await, so the insert runs as a task on the
  event loop, holding a pooled connection as the old code did. Not for production.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from execlog_producer import DeliveryChain, ExecutionLogger, LoggerConfig, LoggerMetrics
from execlog_schema.models import LogRecord

_log = structlog.get_logger("execlog_api.logger.sinks")

DIRECT_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS execution_logs_direct (
    id uuid PRIMARY KEY,
    execution_id uuid NOT NULL,
    workflow_id uuid,
    node_id text,
    component text NOT NULL,
    level text NOT NULL,
    message text NOT NULL,
    payload jsonb NOT NULL,
    attempt integer,
    created_at timestamptz NOT NULL
)
"""
DIRECT_INSERT_SQL = text(
    "INSERT INTO execution_logs_direct (id, execution_id, workflow_id, node_id, component, level,"
    " message, payload, attempt, created_at) VALUES (:id, :execution_id, :workflow_id, :node_id,"
    " :component, :level, :message, CAST(:payload AS jsonb), :attempt, :created_at)"
)


def _no_chain() -> DeliveryChain:
    raise RuntimeError("this logger ships nothing")


class DiscardingLogger(ExecutionLogger):
    """LOG_SINK=off: records are built and counted, never shipped; no threads."""

    def __init__(self, config: LoggerConfig | None = None, **kw: Any) -> None:
        super().__init__(_no_chain, config, **kw)

    @property
    def running(self) -> bool:
        """Started and not closed (there are no threads)."""
        return self._started and not self._closed

    def start(self) -> None:
        """Nothing to start."""
        self._started = True

    def enqueue(self, record: LogRecord) -> None:
        """Count and discard."""
        self.metrics.records_logged.inc()

    async def flush(self, timeout: float | None = None) -> int:
        """Nothing is ever waiting."""
        return 0

    def flush_sync(self, timeout: float | None = None) -> int:
        """Nothing is ever waiting."""
        return 0

    def close(self, timeout: float | None = None) -> None:
        """Mark closed."""
        self._closed = True


class DirectWriteLogger(ExecutionLogger):
    """LOG_SINK=direct: one INSERT + commit per record on the API's own pool (the old design)."""

    def __init__(
        self,
        engine: AsyncEngine,
        config: LoggerConfig | None = None,
        *,
        metrics: LoggerMetrics | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(_no_chain, config, metrics=metrics, **kw)
        self.engine = engine
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._table_ready: asyncio.Lock | None = None
        self._table_made = False
        self._guard = threading.Lock()

    @property
    def running(self) -> bool:
        """Started and not closed (there are no threads)."""
        return self._started and not self._closed

    def start(self) -> None:
        """Remember the event loop the inserts run on."""
        self._started = True
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def enqueue(self, record: LogRecord) -> None:
        """Schedule the INSERT (on the loop; from another thread, onto the loop)."""
        self.metrics.records_logged.inc()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None and not self._loop.is_closed():
                asyncio.run_coroutine_threadsafe(self._insert(record), self._loop)
            return
        task = loop.create_task(self._insert(record))
        with self._guard:
            self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with self._guard:
            self._tasks.discard(task)

    async def _ensure_table(self) -> None:
        if self._table_made:
            return
        if self._table_ready is None:
            self._table_ready = asyncio.Lock()
        async with self._table_ready:
            if not self._table_made:
                async with self.engine.begin() as conn:
                    await conn.execute(text(DIRECT_TABLE_SQL))
                self._table_made = True

    async def _insert(self, record: LogRecord) -> None:
        try:
            await self._ensure_table()
            async with self.engine.begin() as conn:
                await conn.execute(
                    DIRECT_INSERT_SQL,
                    {
                        "id": record.id,
                        "execution_id": record.execution_id,
                        "workflow_id": record.workflow_id,
                        "node_id": record.node_id,
                        "component": record.component,
                        "level": record.level.value,
                        "message": record.message,
                        "payload": orjson.dumps(record.payload).decode(),
                        "attempt": record.attempt,
                        "created_at": record.created_at,
                    },
                )
        except Exception as exc:
            self.metrics.records_dropped.labels(reason="direct_write_failed").inc()
            _log.warning("execlog_direct_write_failed", error=f"{type(exc).__name__}: {exc}")

    async def flush(self, timeout: float | None = None) -> int:
        """Wait for the inserts scheduled so far."""
        with self._guard:
            pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        return len(pending)

    def flush_sync(self, timeout: float | None = None) -> int:
        """Not supported off the loop; returns 0."""
        return 0

    async def aclose(self, timeout: float | None = None) -> None:
        """Wait for pending inserts, then mark closed."""
        await self.flush(timeout)
        self._closed = True

    def close(self, timeout: float | None = None) -> None:
        """Mark closed (pending inserts finish on the loop)."""
        self._closed = True
