"""Per-process state of a Celery child: its own event loop and asyncpg pool, made after fork.

``worker_process_init`` makes the loop (no I/O there: it must finish within Celery's
process-init timeout), the pool is opened on first use (so a database that is down at start
costs a retry, not a crash loop of children), and ``worker_process_shutdown`` closes both.
``get_runtime`` also works outside prefork (solo pool, tests): it makes one for the current pid.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_service.log_setup import get_logger
from execlog_worker.errors import describe
from execlog_worker.ingest.pool import create_pool
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.ops.partitions import ensure_partitions
from execlog_worker.settings import Settings

T = TypeVar("T")
log = get_logger(__name__)

_ENSURE_RETRY_AFTER_FAILURE = 60.0


class ChildRuntime:
    """Event loop + lazily opened pool + writer of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._pool: asyncpg.Pool | None = None
        self._writer: LogWriter | None = None
        self._next_ensure = 0.0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this process's loop."""
        return self.loop.run_until_complete(coro)

    def cancel_pending(self) -> None:
        """Cancel what an interrupted ``run`` left behind (e.g. after a soft time limit)."""
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    async def writer(self) -> LogWriter:
        """The writer, opening the pool first if needed; keeps partitions ensured."""
        if self._writer is None:
            s = self.settings
            self._pool = await create_pool(s, role="writer")
            self._writer = LogWriter(self._pool, s.write_method)
            log.info(
                "database pool open",
                database=s.database_url_redacted,
                min_size=s.db_pool_min_size,
                max_size=s.db_pool_max_size,
                write_method=s.write_method,
            )
        if time.monotonic() >= self._next_ensure:
            await self._ensure_partitions()
        return self._writer

    async def _ensure_partitions(self) -> None:
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn:
                created = await ensure_partitions(
                    conn, days_ahead=self.settings.partition_days_ahead
                )
        except Exception as exc:  # rows still land in the DEFAULT partition
            log.warning("partition ensure failed, will try again", error=describe(exc))
            self._next_ensure = time.monotonic() + _ENSURE_RETRY_AFTER_FAILURE
            return
        if created:
            log.info("partitions created", partitions=created)
        self._next_ensure = time.monotonic() + self.settings.partition_ensure_interval

    async def _close_pool(self) -> None:
        if self._pool is not None:
            pool, self._pool, self._writer = self._pool, None, None
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                pool.terminate()

    def close(self) -> None:
        """Close the pool and the loop."""
        if self.loop.is_closed():
            return
        try:
            self.cancel_pending()
            self.run(self._close_pool())
        finally:
            self.loop.close()


_runtime: ChildRuntime | None = None


def init_runtime(settings: Settings) -> ChildRuntime:
    """Make this process's runtime (called after fork)."""
    global _runtime
    _runtime = ChildRuntime(settings)
    return _runtime


def get_runtime(settings: Settings) -> ChildRuntime:
    """This process's runtime, made on first use or after a fork."""
    if _runtime is None or _runtime.pid != os.getpid() or _runtime.loop.is_closed():
        return init_runtime(settings)
    return _runtime


def shutdown_runtime() -> None:
    """Close this process's runtime, if any."""
    global _runtime
    if _runtime is not None and _runtime.pid == os.getpid():
        _runtime.close()
    _runtime = None
