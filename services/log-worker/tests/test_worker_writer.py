"""LogWriter / ingest against real PostgreSQL: idempotency, edge-case text, sizes, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson
import pytest

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire
from execlog_schema.limits import MAX_MESSAGE_CHARS, MAX_PAYLOAD_BYTES, MAX_RECORDS_PER_BATCH
from execlog_worker.ingest.batch import ingest
from execlog_worker.ingest.writer import LogWriter


async def _count(pool: asyncpg.Pool, table: str = "execution_logs") -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))


@pytest.mark.parametrize("method", ["unnest", "copy"])
async def test_worker_writer_same_batch_twice_rows_once(
    pool: asyncpg.Pool, make_batch: Any, method: str
) -> None:
    writer = LogWriter(pool, method)  # type: ignore[arg-type]
    batch = make_batch(5)
    first = await writer.write_batches([batch])
    again = await writer.write_batches([batch])
    assert (first.written, first.duplicates) == (5, 0)
    assert (again.written, again.duplicates) == (0, 5)
    both = await writer.write_batches([batch, make_batch(2), batch])
    assert (both.records, both.written, both.duplicates) == (12, 2, 10)
    assert await _count(pool) == 7


@pytest.mark.parametrize("method", ["unnest", "copy"])
async def test_worker_writer_roundtrip_unicode_and_max_sizes(
    pool: asyncpg.Pool, method: str
) -> None:
    execution = uuid4()
    big_message = "é" * MAX_MESSAGE_CHARS
    filler = "x" * (MAX_PAYLOAD_BYTES - len(orjson.dumps({"k": ""})))
    big_payload = {"k": filler}
    assert len(orjson.dumps(big_payload)) == MAX_PAYLOAD_BYTES
    odd = "emoji 🚀 CJK 日志 RTL שלום combining e\u0301 zero-width \u200b tab\t nl\n"
    records = [
        new_record(
            execution_id=execution,
            level="ERROR",
            message=big_message,
            component="c" * 64,
            node_id="n" * 255,
            payload=big_payload,
        ),
        new_record(
            execution_id=execution,
            level="DEBUG",
            message=odd,
            component="runner",
            payload={"nested": {"list": [1, 2.5, None, True, odd]}, odd: odd},
            attempt=2_147_483_647,
        ),
    ]
    records += [
        new_record(execution_id=execution, level="INFO", message=str(i), component="runner")
        for i in range(MAX_RECORDS_PER_BATCH - len(records))
    ]
    batch = new_batch(records, make_producer("tests", "1"))
    result = await ingest(batch_to_wire(batch), LogWriter(pool, method))  # type: ignore[arg-type]
    assert result.status == "written"
    assert result.written == MAX_RECORDS_PER_BATCH
    rows = {
        r["id"]: r
        for r in await pool.fetch(
            "SELECT id, message, payload::text AS payload, node_id, attempt FROM execution_logs"
        )
    }
    assert rows[records[0].id]["message"] == big_message
    assert orjson.loads(rows[records[0].id]["payload"]) == big_payload
    assert rows[records[1].id]["message"] == odd
    assert orjson.loads(rows[records[1].id]["payload"])[odd] == odd
    assert rows[records[1].id]["attempt"] == 2_147_483_647


async def test_worker_writer_nul_bytes_dead_lettered_not_written(
    pool: asyncpg.Pool, make_batch: Any
) -> None:
    writer = LogWriter(pool)
    wire = batch_to_wire(make_batch(2))
    wire["records"][1]["message"] = "before\x00after"
    result = await ingest(wire, writer)
    assert result.status == "rejected"
    assert "NUL" in (result.reason or "")
    assert await _count(pool) == 0
    row = await pool.fetchrow("SELECT * FROM execution_log_rejects")
    assert row["kind"] == "invalid"
    assert str(row["batch_id"]) == wire["batch_id"]
    assert "\\u0000" in row["raw_payload"]
    again = await ingest(wire, writer)
    assert again.reject_id == result.reject_id
    assert await pool.fetchval("SELECT occurrences FROM execution_log_rejects") == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff not json",
        "just a string",
        [1, 2, 3],
        {"schema_version": "9.0", "records": []},
        {"lone": "\udc80 surrogate"},
    ],
    ids=["binary", "str", "list", "major", "surrogate"],
)
async def test_worker_writer_garbage_is_dead_lettered(pool: asyncpg.Pool, raw: object) -> None:
    result = await ingest(raw, LogWriter(pool), source="api")
    assert result.status == "rejected"
    assert result.reason
    row = await pool.fetchrow("SELECT reason, source, raw_payload FROM execution_log_rejects")
    assert row["reason"] == result.reason
    assert row["source"] == "api"
    assert row["raw_payload"]


async def test_worker_writer_default_partition_and_ensure_moves_rows(
    pool: asyncpg.Pool, make_batch: Any
) -> None:
    from execlog_worker.ops.partitions import ensure_partitions, list_partitions

    far = datetime(2031, 5, 17, 12, tzinfo=UTC)
    batch = make_batch(3, created_at=far)
    assert (await LogWriter(pool).write_batches([batch])).written == 3
    assert await _count(pool, "execution_logs_default") == 3
    async with pool.acquire() as conn:
        created = await ensure_partitions(conn, days_ahead=1, days_behind=0, today=far.date())
        assert created == ["execution_logs_p20310517", "execution_logs_p20310518"]
        assert await ensure_partitions(conn, days_ahead=1, days_behind=0, today=far.date()) == []
        names = [p.name for p in await list_partitions(conn)]
    assert "execution_logs_p20310517" in names
    assert await _count(pool, "execution_logs_default") == 0
    assert await _count(pool, "execution_logs_p20310517") == 3
    again = await LogWriter(pool).write_batches([batch])
    assert again.duplicates == 3


async def test_worker_writer_retention_drops_old_partitions(
    pool: asyncpg.Pool, make_batch: Any
) -> None:
    from execlog_worker.ops.partitions import drop_older_than, ensure_partitions, list_partitions

    old_day = datetime.now(UTC) - timedelta(days=40)
    async with pool.acquire() as conn:
        await ensure_partitions(conn, days_ahead=0, days_behind=0, today=old_day.date())
        await ensure_partitions(conn, days_ahead=1)
    writer = LogWriter(pool)
    await writer.write_batches([make_batch(2, created_at=old_day)])
    await writer.write_batches([make_batch(2)])
    await writer.write_batches([make_batch(1, created_at=datetime(2001, 1, 1, tzinfo=UTC))])
    cutoff = datetime.now(UTC) - timedelta(days=30)
    async with pool.acquire() as conn:
        dry = await drop_older_than(conn, cutoff, dry_run=True)
        assert dry.dropped == [f"execution_logs_p{old_day:%Y%m%d}"]
        assert await _count(pool) == 5
        done = await drop_older_than(conn, cutoff)
        assert done.dropped == dry.dropped
        assert done.default_rows_deleted == 1
        assert f"execution_logs_p{old_day:%Y%m%d}" not in [
            p.name for p in await list_partitions(conn)
        ]
    assert await _count(pool) == 2


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


@pytest.mark.parametrize("method", ["unnest", "copy", "copy_staging"])
async def test_worker_writer_stores_trace_context_of_1_1_and_null_for_1_0(
    pool: asyncpg.Pool, make_batch: Any, method: str
) -> None:
    traced = make_batch(2, trace_id=TRACE_ID, span_id=SPAN_ID)
    old_wire = batch_to_wire(make_batch(2))
    old_wire["schema_version"] = "1.0"
    for record in old_wire["records"]:
        del record["trace_id"], record["span_id"]
    writer = LogWriter(pool, method)  # type: ignore[arg-type]
    assert (await writer.write_batches([traced])).written == 2
    assert (await ingest(old_wire, writer, source="test")).written == 2
    rows = await pool.fetch("SELECT schema_version, trace_id, span_id FROM execution_logs")
    assert sorted(tuple(r) for r in rows) == [
        ("1.0", None, None),
        ("1.0", None, None),
        ("1.1", TRACE_ID, SPAN_ID),
        ("1.1", TRACE_ID, SPAN_ID),
    ]


async def test_worker_writer_trace_columns_in_every_partition_and_kept_when_moved(
    pool: asyncpg.Pool, make_batch: Any
) -> None:
    from execlog_worker.ops.partitions import ensure_partitions

    far = datetime(2032, 7, 1, 12, tzinfo=UTC)
    batch = make_batch(2, created_at=far, trace_id=TRACE_ID, span_id=SPAN_ID)
    assert (await LogWriter(pool).write_batches([batch])).written == 2
    async with pool.acquire() as conn:
        await ensure_partitions(conn, days_ahead=0, days_behind=0, today=far.date())
    moved = await pool.fetch("SELECT trace_id, span_id FROM execution_logs_p20320701")
    assert [tuple(r) for r in moved] == [(TRACE_ID, SPAN_ID)] * 2
    missing = await pool.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid "
        "WHERE i.inhparent = 'execution_logs'::regclass AND NOT EXISTS ("
        "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND NOT a.attisdropped"
        "  AND a.attname IN ('trace_id', 'span_id') HAVING count(*) = 2)"
    )
    assert [r["relname"] for r in missing] == []
