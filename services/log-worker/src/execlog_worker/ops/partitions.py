"""Daily partitions of execution_logs: create ahead of time, drop after the retention period.

Partitions are named ``execution_logs_pYYYYMMDD`` and cover [day 00:00 UTC, next day 00:00 UTC).
The DEFAULT partition catches any row no daily partition covers (clock skew, a missed
``ensure``); ``ensure`` moves such rows into the day's partition when it creates it, and
``drop_older_than`` deletes expired rows from it. Both run under an advisory lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from execlog_worker.settings import PARTITION_LOCK_KEY

PARENT = "execution_logs"
DEFAULT_PARTITION = "execution_logs_default"
_NAME_RE = re.compile(r"^execution_logs_p(\d{8})$")


@dataclass(frozen=True)
class Partition:
    """One daily partition."""

    name: str
    day: date

    @property
    def lower(self) -> datetime:
        """Inclusive lower bound (UTC midnight)."""
        return datetime.combine(self.day, time(0), tzinfo=UTC)

    @property
    def upper(self) -> datetime:
        """Exclusive upper bound (next UTC midnight)."""
        return self.lower + timedelta(days=1)


def partition_for(day: date) -> Partition:
    """The partition that holds rows created on ``day`` (UTC)."""
    return Partition(name=f"{PARENT}_p{day:%Y%m%d}", day=day)


async def list_partitions(conn: Any) -> list[Partition]:
    """Daily partitions attached to execution_logs, oldest first."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = $1::regclass",
        PARENT,
    )
    found = []
    for row in rows:
        match = _NAME_RE.match(row["relname"])
        if match:
            found.append(
                Partition(name=row["relname"], day=datetime.strptime(match[1], "%Y%m%d").date())
            )
    return sorted(found, key=lambda p: p.day)


async def _create(conn: Any, part: Partition) -> int:
    await conn.execute(
        f"CREATE TABLE {part.name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    status = await conn.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
        "WHERE created_at >= $1 AND created_at < $2 RETURNING *) "
        f"INSERT INTO {part.name} SELECT * FROM moved",
        part.lower,
        part.upper,
    )
    await conn.execute(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {part.name} "
        f"FOR VALUES FROM ('{part.lower.isoformat()}') TO ('{part.upper.isoformat()}')"
    )
    return int(status.split()[-1])


async def ensure_partitions(
    conn: Any, *, days_ahead: int, days_behind: int = 1, today: date | None = None
) -> list[str]:
    """Create the missing partitions from ``today - days_behind`` to ``today + days_ahead``.

    Rows already in the DEFAULT partition for a new day are moved into it. Returns the names
    of the partitions created. Safe to run from many processes at once.
    """
    today = today or datetime.now(UTC).date()
    wanted = [partition_for(today + timedelta(days=d)) for d in range(-days_behind, days_ahead + 1)]
    created: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
        have = {p.name for p in await list_partitions(conn)}
        for part in wanted:
            if part.name not in have:
                await _create(conn, part)
                created.append(part.name)
    return created


@dataclass(frozen=True)
class RetentionResult:
    """What ``drop_older_than`` removed (or would remove, in a dry run)."""

    dropped: list[str]
    default_rows_deleted: int


async def drop_older_than(conn: Any, cutoff: datetime, *, dry_run: bool = False) -> RetentionResult:
    """Drop partitions whose whole range is before ``cutoff``; purge older DEFAULT rows."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
        old = [p for p in await list_partitions(conn) if p.upper <= cutoff]
        if dry_run:
            count = await conn.fetchval(
                f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE created_at < $1", cutoff
            )
            return RetentionResult([p.name for p in old], int(count))
        for part in old:
            await conn.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {part.name}")
            await conn.execute(f"DROP TABLE {part.name}")
        status = await conn.execute(
            f"DELETE FROM {DEFAULT_PARTITION} WHERE created_at < $1", cutoff
        )
    return RetentionResult([p.name for p in old], int(status.split()[-1]))


_DURATION_RE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w`` -> timedelta (at least one hour)."""
    match = _DURATION_RE.match(text.lower())
    if not match:
        raise ValueError(f"bad age {text!r}: use a number and d, h or w (e.g. 30d)")
    amount, unit = int(match[1]), match[2]
    delta = {
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
    }[unit]
    if delta < timedelta(hours=1):
        raise ValueError("age must be at least 1h")
    return delta
