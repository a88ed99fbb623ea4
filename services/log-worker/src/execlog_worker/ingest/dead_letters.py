"""Dead letters (execution_log_rejects): list them, and replay them after a fix.

A replay runs the stored payload through ``ingest`` again. Written -> the row is marked
resolved (kept for audit). Still invalid -> the same open row gets its reason updated and its
occurrence count bumped (the payload hash is the same), so replaying twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from execlog_worker.ingest.batch import IngestResult, ingest
from execlog_worker.ingest.writer import LogWriter

_LIST_SQL = """
SELECT id, kind, reason, batch_id, source, task_id, occurrences, received_at, last_seen_at,
       resolved_at, resolution, length(raw_payload) AS raw_chars
FROM execution_log_rejects
WHERE ($1 OR resolved_at IS NULL) AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[]))
ORDER BY id
LIMIT $3
"""


@dataclass(frozen=True)
class DeadLetter:
    """One row of execution_log_rejects (without its payload)."""

    id: int
    kind: str
    reason: str
    batch_id: UUID | None
    source: str
    task_id: str | None
    occurrences: int
    received_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    raw_chars: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "kind": self.kind,
            "reason": self.reason,
            "batch_id": str(self.batch_id) if self.batch_id else None,
            "source": self.source,
            "task_id": self.task_id,
            "occurrences": self.occurrences,
            "received_at": self.received_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolution": self.resolution,
            "raw_chars": self.raw_chars,
        }


async def list_dead_letters(
    conn: Any, *, limit: int = 100, include_resolved: bool = False, ids: list[int] | None = None
) -> list[DeadLetter]:
    """Dead letters, oldest first (open ones only unless ``include_resolved``)."""
    rows = await conn.fetch(_LIST_SQL, include_resolved, ids, limit)
    return [DeadLetter(**dict(row)) for row in rows]


@dataclass(frozen=True)
class ReplayOutcome:
    """Result of replaying one dead letter."""

    reject_id: int
    result: IngestResult


async def replay(
    writer: LogWriter, *, ids: list[int] | None = None, limit: int = 1000
) -> list[ReplayOutcome]:
    """Re-ingest open dead letters (all, or ``ids``); mark the written ones resolved."""
    async with writer.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, raw_payload FROM execution_log_rejects WHERE resolved_at IS NULL "
            "AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) ORDER BY id LIMIT $2",
            ids,
            limit,
        )
    outcomes = []
    for row in rows:
        result = await ingest(row["raw_payload"], writer, source="replay")
        if result.status == "written":
            async with writer.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE execution_log_rejects SET resolved_at = now(), resolution = $2 "
                    "WHERE id = $1",
                    row["id"],
                    f"replayed: {result.written} written, {result.duplicates} duplicates",
                )
        outcomes.append(ReplayOutcome(reject_id=row["id"], result=result))
    return outcomes
