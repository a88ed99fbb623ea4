"""SQL of the read API: a keyset page in (created_at, id) order and a tail poll in (txid, seq)
order, both bounded by a transaction watermark (see ``execlog_worker.api.cursor``).

The watermark W: every transaction that can still add rows to execution_logs has
txid >= W. It is the smallest xid, in the current snapshot's in-progress list, of a transaction
holding a lock on execution_logs (the snapshot's xmax when there is none). Sound because every
writer locks execution_logs before it is assigned an xid (an INSERT locks its target first;
the COPY path takes the lock explicitly), and because W is computed in a statement that runs
before the query that uses it (a transaction missing from the lock list then has ended, so its
rows are visible to the later query). Unlike ``pg_snapshot_xmin`` (which waits for every
writing transaction in the cluster), only writers of this table hold W back. W never decreases,
so a slightly stale cached value is merely conservative.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from execlog_schema.models import LogLevel
from execlog_worker.api.cursor import ListCursor, Order, TailPosition, filters_fingerprint

LEVELS: tuple[str, ...] = tuple(level.value for level in LogLevel)

_COLUMNS = (
    "id, created_at, execution_id, workflow_id, node_id, component, level, message, "
    "payload::text AS payload, attempt, trace_id, span_id, batch_id, schema_version, "
    "producer_service, "
    "received_at, seq, txid::text::bigint AS txid"
)
WATERMARK_SQL = """
WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
writers AS (
    SELECT DISTINCT t.transactionid::text::bigint AS xid32
    FROM pg_locks r
    JOIN pg_locks t ON t.virtualtransaction = r.virtualtransaction
    WHERE r.locktype = 'relation'
      AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND r.relation = 'execution_logs'::regclass
      AND t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.granted
)
SELECT COALESCE(
    (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) AS x
     WHERE x::text::bigint % 4294967296 IN (SELECT xid32 FROM writers)),
    (SELECT pg_snapshot_xmax(s) FROM snap)
)::text::bigint
"""


async def fetch_watermark(conn: Any) -> int:
    """The current watermark (see the module docstring)."""
    value: int = await conn.fetchval(WATERMARK_SQL)
    return value


class WatermarkCache:
    """One watermark query per ``ttl`` for all the readers of a process."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._value = 0
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, pool: Any) -> int:
        """A watermark at most ``ttl`` seconds old."""
        async with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                async with pool.acquire() as conn:
                    self._value = max(self._value, await fetch_watermark(conn))
                self._at = time.monotonic()
            return self._value


def levels_at_least(level: LogLevel) -> list[str]:
    """The level names at or above ``level``."""
    return list(LEVELS[LEVELS.index(level.value) :])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class LogFilters:
    """Filters shared by the list and the tail."""

    min_level: LogLevel | None = None
    since: datetime | None = None
    until: datetime | None = None
    node_id: str | None = None
    component: str | None = None
    contains: str | None = None
    trace_id: str | None = None

    def fingerprint(self, execution_id: UUID) -> str:
        """Digest binding a cursor to this query (without a trace_id, the same digest as
        before the filter existed: cursors stay valid across the upgrade)."""
        parts: tuple[object, ...] = (
            str(execution_id),
            self.min_level.value if self.min_level else None,
            self.since.isoformat() if self.since else None,
            self.until.isoformat() if self.until else None,
            self.node_id,
            self.component,
            self.contains,
        )
        if self.trace_id is not None:
            parts += (self.trace_id,)
        return filters_fingerprint(*parts)

    def sql(self, params: list[Any]) -> str:
        """``AND ...`` clauses, appending their parameters to ``params``."""
        clauses = []

        def add(template: str, value: Any) -> None:
            params.append(value)
            clauses.append(template.format(f"${len(params)}"))

        if self.min_level is not None and self.min_level != LogLevel.DEBUG:
            add("level = ANY({}::text[])", levels_at_least(self.min_level))
        if self.since is not None:
            add("created_at >= {}", self.since)
        if self.until is not None:
            add("created_at < {}", self.until)
        if self.node_id is not None:
            add("node_id = {}", self.node_id)
        if self.component is not None:
            add("component = {}", self.component)
        if self.contains:
            add("message ILIKE '%' || {} || '%'", _like_escape(self.contains))
        if self.trace_id is not None:
            add("trace_id = {}", self.trace_id)
        return "".join(f" AND {c}" for c in clauses)


def row_item(row: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict (the payload is embedded as the stored JSON text)."""
    workflow = row["workflow_id"]
    return {
        "id": str(row["id"]),
        "execution_id": str(row["execution_id"]),
        "workflow_id": str(workflow) if workflow is not None else None,
        "node_id": row["node_id"],
        "component": row["component"],
        "level": row["level"],
        "message": row["message"],
        "payload": orjson.Fragment(row["payload"]),
        "attempt": row["attempt"],
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "created_at": row["created_at"],
        "received_at": row["received_at"],
        "batch_id": str(row["batch_id"]),
        "schema_version": row["schema_version"],
        "producer": row["producer_service"],
        "seq": row["seq"],
    }


@dataclass(frozen=True)
class Page:
    """One page of the list."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    tail_cursor: str


async def list_page(
    conn: Any,
    execution_id: UUID,
    filters: LogFilters,
    *,
    order: Order,
    limit: int,
    watermark: int,
    cursor: ListCursor | None,
) -> Page:
    """One keyset page of rows below ``watermark``; ``cursor`` must come from the same query."""
    params: list[Any] = [execution_id, watermark]
    where = filters.sql(params)
    op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    if cursor is not None:
        params.extend([cursor.created_at, cursor.id])
        where += f" AND (created_at, id) {op} (${len(params) - 1}, ${len(params)})"
    sql = (
        f"SELECT {_COLUMNS} FROM execution_logs "
        f"WHERE execution_id = $1 AND txid < $2::bigint::text::xid8{where} "
        f"ORDER BY created_at {direction}, id {direction} LIMIT {limit + 1}"
    )
    found = list(await conn.fetch(sql, *params))
    more = len(found) > limit
    found = found[:limit]
    next_cursor = None
    if more:
        last = found[-1]
        next_cursor = ListCursor(
            order, last["created_at"], last["id"], watermark, filters.fingerprint(execution_id)
        ).encode()
    return Page(
        items=[row_item(r) for r in found],
        next_cursor=next_cursor,
        tail_cursor=TailPosition(txid=watermark, seq=-1).encode(),
    )


@dataclass(frozen=True)
class TailPoll:
    """One poll of the tail: rows in order, each with its position, and the new position."""

    rows: list[tuple[TailPosition, dict[str, Any]]]
    position: TailPosition
    complete: bool


async def tail_poll(
    conn: Any,
    execution_id: UUID,
    filters: LogFilters,
    position: TailPosition,
    limit: int,
    *,
    watermark: int,
) -> TailPoll:
    """Rows after ``position`` and below ``watermark``, in tail order.

    ``watermark`` must have been computed before this call (``fetch_watermark``).
    """
    params: list[Any] = [execution_id, position.txid, position.seq, watermark]
    where = filters.sql(params)
    sql = (
        f"SELECT {_COLUMNS} FROM execution_logs "
        "WHERE execution_id = $1 AND (txid, seq) > ($2::bigint::text::xid8, $3::bigint) "
        f"AND txid < $4::bigint::text::xid8{where} ORDER BY txid, seq LIMIT {limit}"
    )
    found = list(await conn.fetch(sql, *params))
    out = [(TailPosition(int(r["txid"]), int(r["seq"])), row_item(r)) for r in found]
    complete = len(found) < limit
    if complete and watermark > position.txid:
        new_position = TailPosition(txid=watermark, seq=-1)
    elif out:
        new_position = out[-1][0]
    else:
        new_position = position
    return TailPoll(rows=out, position=new_position, complete=complete)
