"""The logs database of a run: a throwaway one (migrated by log-worker's own code), reset and
progress polling (sequence first, exact count at the end, so polling costs PostgreSQL little)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_db.admin import create_database_async, database_url_for, drop_database_async
from execlog_db.url import to_asyncpg_dsn

SEQ_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM execution_logs_seq"
COUNT_SQL = "SELECT count(*) FROM execution_logs"


async def migrate_logs_db(url: str) -> None:
    """Apply log-worker's migrations and create the daily partitions around today."""
    from execlog_worker.ops.partitions import ensure_partitions
    from execlog_worker.ops.schema import migrate
    from execlog_worker.settings import Settings

    await migrate(Settings(database_url=url))
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    try:
        await ensure_partitions(conn, days_ahead=2)
    finally:
        await conn.close()


class ThrowawayDb:
    """A fresh, migrated logs database, dropped on exit."""

    def __init__(self, server_url: str, prefix: str = "execlog_bench") -> None:
        self.server_url = server_url
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.url = database_url_for(server_url, self.name)

    async def __aenter__(self) -> ThrowawayDb:
        await create_database_async(self.server_url, self.name)
        try:
            await migrate_logs_db(self.url)
        except BaseException:
            await drop_database_async(self.server_url, self.name)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await drop_database_async(self.server_url, self.name)


async def reset(conn: asyncpg.Connection) -> None:
    """Empty execution_logs (sequence too) and checkpoint, so every run starts alike."""
    await conn.execute("TRUNCATE execution_logs RESTART IDENTITY")
    await conn.execute("TRUNCATE execution_log_rejects RESTART IDENTITY")
    await conn.execute("CHECKPOINT")


async def reset_url(url: str) -> None:
    """:func:`reset` through a new connection."""
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    try:
        await reset(conn)
    finally:
        await conn.close()


async def count_rows(url: str) -> int:
    """Exact number of rows in execution_logs."""
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    try:
        return int(await conn.fetchval(COUNT_SQL))
    finally:
        await conn.close()


@dataclass
class Progress:
    """When ``target`` rows were all committed, and the trace seen on the way."""

    target: int
    reached_at: float | None = None
    final_count: int = 0
    trace: list[tuple[float, int]] = field(default_factory=list)

    def first_time_at_least(self, rows: int) -> float | None:
        """Monotonic time at which at least ``rows`` were seen (sequence or count)."""
        for t, n in self.trace:
            if n >= rows:
                return t
        return None


async def wait_for_rows(
    url: str, target: int, *, timeout: float, poll: float = 0.01, stall: float = 30.0
) -> Progress:
    """Poll until ``target`` rows are committed (or ``timeout``, or no progress for ``stall`` s).

    Polls the cheap sequence (rows inserted, maybe not committed) until it reaches ``target``,
    then the exact count; the trace records (monotonic time, rows) for throughput plots.
    """
    progress = Progress(target)
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    last_value = -1
    try:
        while time.monotonic() < deadline:
            seq = int(await conn.fetchval(SEQ_SQL))
            now = time.monotonic()
            if seq >= target:
                n = int(await conn.fetchval(COUNT_SQL))
                now = time.monotonic()
                progress.trace.append((now, n))
                progress.final_count = n
                if n >= target:
                    progress.reached_at = now
                    return progress
            else:
                progress.trace.append((now, seq))
            value = progress.trace[-1][1]
            if value != last_value:
                last_value, last_change = value, now
            elif now - last_change > stall:
                break
            await asyncio.sleep(poll)
        progress.final_count = int(await conn.fetchval(COUNT_SQL))
        return progress
    finally:
        await conn.close()
