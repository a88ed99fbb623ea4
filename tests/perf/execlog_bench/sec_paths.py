"""Section 5: the worker's write paths compared on the same rows (plus the ceiling and the floor).

Every path writes the same log-shaped rows into an emptied ``execution_logs`` (partitioned by
day, primary key and two indexes, as log-worker's migration makes it). LogWriter paths are
log-worker's own code, timed from LogBatch objects to commit (row conversion included).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy import Integer, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime

from execlog_bench import data
from execlog_bench.db import count_rows, reset_url
from execlog_bench.stats import summary
from execlog_db.url import to_asyncpg_dsn
from execlog_schema.models import LogBatch

Row = tuple[Any, ...]
Path = Callable[[], Awaitable[None]]


class _Base(DeclarativeBase):
    pass


class OrmLog(_Base):
    """execution_logs as an ORM class (the columns a producer fills; the rest are defaults)."""

    __tablename__ = "execution_logs"
    id: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    execution_id: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True))
    workflow_id: Mapped[UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    node_id: Mapped[str | None] = mapped_column(Text)
    component: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempt: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True))
    schema_version: Mapped[str] = mapped_column(Text)
    producer_service: Mapped[str] = mapped_column(Text)
    producer_version: Mapped[str] = mapped_column(Text)
    producer_host: Mapped[str] = mapped_column(Text)
    producer_pid: Mapped[int] = mapped_column(Integer)


def _has_method(name: str) -> bool:
    from typing import get_args

    from execlog_worker.settings import WriteMethod

    return name in get_args(WriteMethod)


def _orm_objects(batches: list[LogBatch]) -> list[OrmLog]:
    out = []
    for b in batches:
        p = b.producer
        for r in b.records:
            out.append(
                OrmLog(
                    id=r.id,
                    created_at=r.created_at,
                    execution_id=r.execution_id,
                    workflow_id=r.workflow_id,
                    node_id=r.node_id,
                    component=r.component,
                    level=r.level.value,
                    message=r.message,
                    payload=r.payload,
                    attempt=r.attempt,
                    batch_id=b.batch_id,
                    schema_version=b.schema_version,
                    producer_service=p.service,
                    producer_version=p.version,
                    producer_host=p.host,
                    producer_pid=p.pid,
                )
            )
    return out


async def _time_path(url: str, rows: int, run: Path) -> float:
    await reset_url(url)
    started = time.perf_counter()
    await run()
    elapsed = time.perf_counter() - started
    stored = await count_rows(url)
    if stored != rows:
        raise RuntimeError(f"path wrote {stored} rows, expected {rows}")
    return rows / elapsed


async def run_section(url: str, *, rows: int, runs: int, slow_rows: int) -> dict[str, Any]:
    """Measure every path ``runs`` times; slow paths (ORM, one INSERT per row) on ``slow_rows``."""
    from execlog_worker.ingest.writer import COLUMNS, UNNEST_SQL, LogWriter, batch_rows

    recs = data.records(rows)
    b500 = data.batches(recs, 500)
    b50 = data.batches(recs[:slow_rows], 50)
    all_rows, _ = batch_rows(b500)
    slow_rows_list, _ = batch_rows(b50)
    insert_one = UNNEST_SQL.split(" SELECT ")[0] + (
        " VALUES (" + ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1)) + ")"
        " ON CONFLICT (id, created_at) DO NOTHING"
    )
    pool = await asyncpg.create_pool(to_asyncpg_dsn(url), min_size=1, max_size=2)
    engine = create_async_engine(
        "postgresql+asyncpg://" + url.split("://", 1)[1], pool_size=2, max_overflow=0
    )
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    copy_writer = LogWriter(pool, "copy")
    staging_writer = LogWriter(pool, "copy_staging" if _has_method("copy_staging") else "copy")
    unnest_writer = LogWriter(pool, "unnest")

    async def plain_copy() -> None:
        async with pool.acquire() as conn:
            for chunk in data.chunks(all_rows, 5000):
                await conn.copy_records_to_table(
                    "execution_logs", records=chunk, columns=list(COLUMNS)
                )

    async def copy_staging() -> None:
        for group in data.chunks(b500, 10):
            await staging_writer.write_batches(group)

    async def copy_optimistic() -> None:
        for group in data.chunks(b500, 10):
            await copy_writer.write_batches(group)

    async def copy_optimistic_redelivered() -> None:
        for group in data.chunks(b500, 10):
            await copy_writer.write_batches(group)
        for group in data.chunks(b500, 10):
            await copy_writer.write_batches(group)

    async def unnest_500() -> None:
        for batch in b500:
            await unnest_writer.write_batches([batch])

    async def unnest_50() -> None:
        for group in data.chunks(b50, 1):
            await unnest_writer.write_batches(group)

    async def executemany_50() -> None:
        async with pool.acquire() as conn:
            for chunk in data.chunks(slow_rows_list, 50):
                async with conn.transaction():
                    await conn.executemany(insert_one, chunk)

    async def orm_50() -> None:
        for group in data.chunks(b50, 1):
            objs = _orm_objects(group)
            async with sessionmaker() as session:
                session.add_all(objs)
                await session.commit()

    async def one_insert_per_row() -> None:
        async with pool.acquire() as conn:
            for row in slow_rows_list:
                await conn.execute(insert_one, *row)

    paths: list[tuple[str, str, int, int, Path, bool]]
    paths = [
        ("plain_copy", "plain COPY (ceiling, not idempotent)", 5000, rows, plain_copy, False),
        ("copy_staging", "COPY → staging + INSERT … ON CONFLICT", 5000, rows, copy_staging, True),
    ]
    if _has_method("copy_staging"):
        paths += [
            (
                "copy_optimistic",
                "COPY, staging only on conflict (worker 'copy')",
                5000,
                rows,
                copy_optimistic,
                True,
            ),
            (
                "copy_optimistic_redelivered",
                "same, every batch written twice (all redelivered)",
                5000,
                rows,
                copy_optimistic_redelivered,
                True,
            ),
        ]
    paths += [
        ("unnest_500", "INSERT … SELECT unnest(…) ON CONFLICT", 500, rows, unnest_500, True),
        ("unnest_50", "INSERT … SELECT unnest(…) ON CONFLICT", 50, slow_rows, unnest_50, True),
        ("executemany_50", "asyncpg executemany ON CONFLICT", 50, slow_rows, executemany_50, True),
        ("orm_50", "SQLAlchemy ORM add_all", 50, slow_rows, orm_50, False),
        ("insert_1", "one INSERT per record (autocommit)", 1, slow_rows, one_insert_per_row, True),
    ]
    results: dict[str, Any] = {"rows": rows, "slow_rows": slow_rows, "paths": []}
    try:
        for key, label, batch, n, fn, idempotent in paths:
            rates = [await _time_path(url, n, fn) for _ in range(runs)]
            results["paths"].append(
                {
                    "key": key,
                    "label": label,
                    "batch": batch,
                    "rows": n,
                    "idempotent": idempotent,
                    "rows_per_s": summary(rates),
                }
            )
    finally:
        await pool.close()
        await engine.dispose()
    ceiling = results["paths"][0]["rows_per_s"]["median"]
    for p in results["paths"]:
        p["vs_plain_copy"] = p["rows_per_s"]["median"] / ceiling if ceiling else None
    return results
