"""SQL of the read API: a keyset page in (created_at, id) order and a tail poll in (txid, seq)
order, both bounded by a transaction watermark (see ``execlog_worker.api.cursor``)."""

from __future__ import annotations

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
    "payload::text AS payload, attempt, batch_id, schema_version, producer_service, "
    "received_at, seq, txid::text::bigint AS txid"
)
_OUT = (
    "r.id, r.created_at, r.execution_id, r.workflow_id, r.node_id, r.component, r.level, "
    "r.message, r.payload, r.attempt, r.batch_id, r.schema_version, r.producer_service, "
    "r.received_at, r.seq, r.txid"
)
_SNAPSHOT_XMIN = "pg_snapshot_xmin(pg_current_snapshot())"


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

    def fingerprint(self, execution_id: UUID) -> str:
        """Digest binding a cursor to this query."""
        return filters_fingerprint(
            str(execution_id),
            self.min_level.value if self.min_level else None,
            self.since.isoformat() if self.since else None,
            self.until.isoformat() if self.until else None,
            self.node_id,
            self.component,
            self.contains,
        )

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
    cursor: ListCursor | None,
) -> Page:
    """One keyset page; ``cursor`` must come from the same query (checked by the caller)."""
    params: list[Any] = [execution_id]
    if cursor is None:
        watermark = _SNAPSHOT_XMIN
    else:
        params.append(cursor.watermark)
        watermark = f"${len(params)}::bigint::text::xid8"
    where = filters.sql(params)
    op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    if cursor is not None:
        params.extend([cursor.created_at, cursor.id])
        where += f" AND (created_at, id) {op} (${len(params) - 1}, ${len(params)})"
    sql = (
        f"WITH w AS MATERIALIZED (SELECT {watermark} AS x) "
        f"SELECT w.x::text::bigint AS watermark, {_OUT} FROM w LEFT JOIN LATERAL ("
        f"SELECT {_COLUMNS} FROM execution_logs "
        f"WHERE execution_id = $1 AND txid < w.x{where} "
        f"ORDER BY created_at {direction}, id {direction} LIMIT {limit + 1}"
        f") r ON true ORDER BY r.created_at {direction}, r.id {direction}"
    )
    rows = await conn.fetch(sql, *params)
    mark = int(rows[0]["watermark"]) if rows else 0
    found = [r for r in rows if r["id"] is not None]
    more = len(found) > limit
    found = found[:limit]
    next_cursor = None
    if more:
        last = found[-1]
        next_cursor = ListCursor(
            order, last["created_at"], last["id"], mark, filters.fingerprint(execution_id)
        ).encode()
    return Page(
        items=[row_item(r) for r in found],
        next_cursor=next_cursor,
        tail_cursor=TailPosition(txid=mark, seq=-1).encode(),
    )


@dataclass(frozen=True)
class TailPoll:
    """One poll of the tail: rows in order, each with its position, and the new position."""

    rows: list[tuple[TailPosition, dict[str, Any]]]
    position: TailPosition
    complete: bool


async def tail_poll(
    conn: Any, execution_id: UUID, filters: LogFilters, position: TailPosition, limit: int
) -> TailPoll:
    """Rows after ``position`` whose transaction is below the snapshot's xmin, in tail order."""
    params: list[Any] = [execution_id, position.txid, position.seq]
    where = filters.sql(params)
    sql = (
        f"WITH w AS MATERIALIZED (SELECT {_SNAPSHOT_XMIN} AS x) "
        f"SELECT w.x::text::bigint AS watermark, {_OUT} FROM w LEFT JOIN LATERAL ("
        f"SELECT {_COLUMNS} FROM execution_logs "
        "WHERE execution_id = $1 AND (txid, seq) > ($2::bigint::text::xid8, $3::bigint) "
        f"AND txid < w.x{where} ORDER BY txid, seq LIMIT {limit}"
        ") r ON true ORDER BY r.txid, r.seq"
    )
    rows = await conn.fetch(sql, *params)
    mark = int(rows[0]["watermark"]) if rows else position.txid
    found = [r for r in rows if r["id"] is not None]
    out = [(TailPosition(int(r["txid"]), int(r["seq"])), row_item(r)) for r in found]
    complete = len(found) < limit
    if complete and mark > position.txid:
        new_position = TailPosition(txid=mark, seq=-1)
    elif out:
        new_position = out[-1][0]
    else:
        new_position = position
    return TailPoll(rows=out, position=new_position, complete=complete)
