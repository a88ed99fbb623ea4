"""Bulk, idempotent writes of log batches, and dead-letter rows.

One ``write_batches`` call is one transaction and one bulk INSERT, whatever the number of
batches (so several queue messages can be coalesced into a single statement). Idempotency:
the primary key is (id, created_at) and both come from the producer, so a redelivered batch
hits ``ON CONFLICT DO NOTHING`` and writes nothing twice.

Write paths (WRITE_METHOD):
- ``unnest``: ``INSERT ... SELECT * FROM unnest($1::uuid[], ...) ON CONFLICT DO NOTHING``
  (one round trip with 18 array parameters);
- ``copy`` (default): binary COPY straight into execution_logs in its own transaction; if a
  row is already stored (a redelivered batch: unique violation), that transaction is rolled
  back and the rows take the ``copy_staging`` path, so the outcome is that of ON CONFLICT DO
  NOTHING while the common case costs a plain COPY;
- ``copy_staging``: binary COPY into a per-connection temporary staging table, then
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` from it (two statements, one transaction).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson

from execlog_schema.models import LogBatch
from execlog_worker.metrics import (
    BATCHES_WRITTEN,
    DUPLICATE_FALLBACKS,
    DUPLICATES_SKIPPED,
    RECORDS_WRITTEN,
    WRITE_LATENCY,
)
from execlog_worker.settings import WriteMethod

RejectKind = Literal["invalid", "write_failed"]

COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "execution_id",
    "workflow_id",
    "node_id",
    "component",
    "level",
    "message",
    "payload",
    "attempt",
    "trace_id",
    "span_id",
    "batch_id",
    "schema_version",
    "producer_service",
    "producer_version",
    "producer_host",
    "producer_pid",
)
TYPES: tuple[str, ...] = (
    "uuid",
    "timestamptz",
    "uuid",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
    "integer",
    "text",
    "text",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "integer",
)
STAGING = "execlog_staging"
_COLS = ", ".join(COLUMNS)
UNNEST_SQL = (
    f"INSERT INTO execution_logs ({_COLS}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{t}[]" for i, t in enumerate(TYPES, start=1))
    + ") ON CONFLICT (id, created_at) DO NOTHING"
)
CREATE_STAGING_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} ("
    + ", ".join(f"{c} {t}" for c, t in zip(COLUMNS, TYPES, strict=True))
    + ") ON COMMIT DELETE ROWS"
)
LOCK_SQL = "LOCK TABLE execution_logs IN ROW EXCLUSIVE MODE"
FROM_STAGING_SQL = (
    f"INSERT INTO execution_logs ({_COLS}) SELECT {_COLS} FROM {STAGING} "
    "ON CONFLICT (id, created_at) DO NOTHING"
)
REJECT_SQL = """
INSERT INTO execution_log_rejects (kind, reason, batch_id, raw_payload, raw_sha256, source, task_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (raw_sha256) WHERE resolved_at IS NULL DO UPDATE
SET occurrences = execution_log_rejects.occurrences + 1,
    last_seen_at = now(),
    kind = EXCLUDED.kind,
    reason = EXCLUDED.reason,
    task_id = COALESCE(EXCLUDED.task_id, execution_log_rejects.task_id)
RETURNING id
"""

Row = tuple[Any, ...]


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one bulk write."""

    records: int
    written: int

    @property
    def duplicates(self) -> int:
        """Records that were already stored (redelivery) or repeated in the input."""
        return self.records - self.written


def batch_rows(batches: Sequence[LogBatch]) -> tuple[list[Row], int]:
    """Rows in column order, without repeated (id, created_at); and the input record count.

    Runs once per record on the worker's hot path: fields are read from the validated models'
    ``__dict__`` and the dedup key uses the UUID's integer (``UUID.__hash__`` is Python code).
    """
    rows: list[Row] = []
    append = rows.append
    seen: set[tuple[int, Any]] = set()
    add = seen.add
    dumps = orjson.dumps
    total = 0
    for batch in batches:
        b = batch.__dict__
        p = b["producer"].__dict__
        tail = (
            b["batch_id"],
            b["schema_version"],
            p["service"],
            p["version"],
            p["host"],
            p["pid"],
        )
        records = b["records"]
        total += len(records)
        for rec in records:
            r = rec.__dict__
            rid = r["id"]
            created = r["created_at"]
            key = (rid.int, created)
            if key in seen:
                continue
            add(key)
            append(
                (
                    rid,
                    created,
                    r["execution_id"],
                    r["workflow_id"],
                    r["node_id"],
                    r["component"],
                    r["level"].value,
                    r["message"],
                    dumps(r["payload"]).decode(),
                    r["attempt"],
                    r["trace_id"],
                    r["span_id"],
                    *tail,
                )
            )
    return rows, total


def raw_to_text(raw: object) -> str:
    """A PostgreSQL-safe text form of any payload (no NUL, no lone surrogate)."""
    if isinstance(raw, bytes | bytearray | memoryview):
        text = bytes(raw).decode("utf-8", errors="backslashreplace")
    elif isinstance(raw, str):
        text = raw
    else:
        try:
            text = orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = json.dumps(raw, ensure_ascii=True, default=repr)
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


class LogWriter:
    """Writes batches to execution_logs and rejects to execution_log_rejects through a pool."""

    def __init__(self, pool: asyncpg.Pool, method: WriteMethod = "unnest") -> None:
        self.pool = pool
        self.method: WriteMethod = method

    async def write_batches(
        self, batches: Sequence[LogBatch], *, source: str = "task"
    ) -> WriteResult:
        """Write every record of ``batches`` in one transaction; existing ids are skipped.

        The write metrics are counted here, and only here, by ``source`` (task, api, replay).
        """
        rows, total = batch_rows(batches)
        if not rows:
            return WriteResult(records=total, written=0)
        started = time.perf_counter()
        async with self.pool.acquire() as conn:
            if self.method == "copy":
                written = await self._copy_optimistic(conn, rows)
            elif self.method == "copy_staging":
                written = await self._copy(conn, rows)
            else:
                async with conn.transaction():
                    written = await self._unnest(conn, rows)
        WRITE_LATENCY.labels(self.method).observe(time.perf_counter() - started)
        result = WriteResult(records=total, written=written)
        RECORDS_WRITTEN.labels(source).inc(result.written)
        DUPLICATES_SKIPPED.labels(source).inc(result.duplicates)
        BATCHES_WRITTEN.labels(source).inc(len(batches))
        return result

    @staticmethod
    async def _unnest(conn: Any, rows: list[Row]) -> int:
        columns = [list(col) for col in zip(*rows, strict=True)]
        status: str = await conn.execute(UNNEST_SQL, *columns)
        return int(status.rsplit(" ", 1)[-1])

    @classmethod
    async def _copy_optimistic(cls, conn: Any, rows: list[Row]) -> int:
        """COPY straight into execution_logs; if any row is already there (a redelivery), the
        transaction is rolled back and the rows go through staging + ON CONFLICT instead."""
        try:
            async with conn.transaction():
                # Same lock-before-xid rule as the staging path (readers' watermark).
                await conn.execute(LOCK_SQL)
                status: str = await conn.copy_records_to_table(
                    "execution_logs", records=rows, columns=COLUMNS
                )
            return int(status.rsplit(" ", 1)[-1])
        except asyncpg.exceptions.UniqueViolationError:
            DUPLICATE_FALLBACKS.inc()
            return await cls._copy(conn, rows)

    @staticmethod
    async def _copy(conn: Any, rows: list[Row]) -> int:
        for attempt in (1, 2):
            try:
                async with conn.transaction():
                    # Lock before the staging COPY assigns an xid: readers' watermark relies
                    # on every writer holding this lock while it has an xid.
                    await conn.execute(LOCK_SQL)
                    await conn.copy_records_to_table(STAGING, records=rows, columns=COLUMNS)
                    status: str = await conn.execute(FROM_STAGING_SQL)
                return int(status.rsplit(" ", 1)[-1])
            except asyncpg.exceptions.UndefinedTableError as exc:
                if attempt == 2 or STAGING not in str(exc):
                    raise
                await conn.execute(CREATE_STAGING_SQL)
        raise AssertionError("unreachable")

    async def reject(
        self,
        raw: object,
        *,
        reason: str,
        batch_id: UUID | None,
        kind: RejectKind,
        source: str,
        task_id: str | None = None,
    ) -> int:
        """Store ``raw`` as a dead letter (the same open payload again only bumps a counter)."""
        text = raw_to_text(raw)
        digest = hashlib.sha256(text.encode()).hexdigest()
        reason = raw_to_text(reason)[:4000]
        async with self.pool.acquire() as conn:
            reject_id: int = await conn.fetchval(
                REJECT_SQL, kind, reason, batch_id, text, digest, source, task_id
            )
        return reject_id
