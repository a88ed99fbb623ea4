"""Live tail over a real HTTP server: SSE delivers records written after it started, resumes
with Last-Event-ID, and never skips a row committed out of order by a slower transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
import orjson
import pytest
import uvicorn

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_worker.api.app import create_app
from execlog_worker.api.cursor import START
from execlog_worker.api.queries import LogFilters, fetch_watermark, tail_poll
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.settings import Settings


@pytest.fixture()
def server(migrated: Settings, free_port: int) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(migrated), host="127.0.0.1", port=free_port, log_config=None, lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        threading.Event().wait(0.05)
    try:
        yield f"http://127.0.0.1:{free_port}"
    finally:
        srv.should_exit = True
        thread.join(10)


async def _events(resp: httpx.Response) -> AsyncIterator[dict[str, str]]:
    event: dict[str, str] = {}
    async for line in resp.aiter_lines():
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = value.removeprefix(" ")


async def _take(events: AsyncIterator[dict[str, str]], n: int) -> list[dict[str, str]]:
    got: list[dict[str, str]] = []
    async for event in events:
        if event.get("event") == "log":
            got.append(event)
            if len(got) == n:
                break
    return got


def _batch(execution: Any, n: int, tag: str) -> Any:
    records = [
        new_record(execution_id=execution, level="INFO", message=f"{tag} {i}", component="t")
        for i in range(n)
    ]
    return new_batch(records, make_producer("tests", "1"))


async def test_worker_sse_tail_delivers_new_records_and_resumes(
    server: str, pool: asyncpg.Pool, auth: dict[str, str]
) -> None:
    execution = uuid4()
    writer = LogWriter(pool)
    await writer.write_batches([_batch(execution, 3, "before")])
    url = f"{server}/v1/executions/{execution}/logs/stream"
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", url, headers=auth) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            events = _events(resp)
            first = await asyncio.wait_for(_take(events, 3), 10)
            await writer.write_batches([_batch(execution, 2, "after")])
            await writer.write_batches([_batch(uuid4(), 2, "other execution")])
            second = await asyncio.wait_for(_take(events, 2), 10)
        messages = [orjson.loads(e["data"])["message"] for e in first + second]
        assert messages == ["before 0", "before 1", "before 2", "after 0", "after 1"]

        resume = {**auth, "Last-Event-ID": first[2]["id"]}
        async with client.stream("GET", url, headers=resume) as resp:
            again = await asyncio.wait_for(_take(_events(resp), 2), 10)
        assert [e["id"] for e in again] == [e["id"] for e in second]

        listing = (await client.get(url.removesuffix("/stream"), headers=auth)).json()
        await writer.write_batches([_batch(execution, 1, "followed")])
        follow = {"cursor": listing["tail_cursor"]}
        async with client.stream("GET", url, params=follow, headers=auth) as resp:
            tail = await asyncio.wait_for(_take(_events(resp), 1), 10)
        assert orjson.loads(tail[0]["data"])["message"] == "followed 0"
        assert len(listing["items"]) == 5


async def test_worker_sse_tail_waits_for_slower_transaction(
    pool: asyncpg.Pool, migrated: Settings
) -> None:
    execution = uuid4()
    writer = LogWriter(pool)
    slow = await asyncpg.connect(migrated.asyncpg_dsn)
    try:
        tx = slow.transaction()
        await tx.start()
        # The slow writer inserts first (smaller txid and seq) but commits last.
        await LogWriter._unnest(slow, [_row(_batch(execution, 1, "slow"))])
        slow_txid = int(await slow.fetchval("SELECT pg_current_xact_id()::text::bigint"))
        await writer.write_batches([_batch(execution, 2, "fast")])
        async with pool.acquire() as conn:
            mark = await fetch_watermark(conn)
            poll = await tail_poll(conn, execution, LogFilters(), START, 100, watermark=mark)
        # "fast" is committed, but an older writer is still open: the tail holds it back.
        assert mark == slow_txid
        assert poll.rows == []
        await tx.commit()
        async with pool.acquire() as conn:
            mark = await fetch_watermark(conn)
            poll2 = await tail_poll(
                conn, execution, LogFilters(), poll.position, 100, watermark=mark
            )
        assert [item["message"] for _, item in poll2.rows] == ["slow 0", "fast 0", "fast 1"]
    finally:
        await slow.close()


async def test_worker_sse_unrelated_transactions_do_not_hold_readers_back(
    pool: asyncpg.Pool,
    migrated: Settings,
    database_server_url: str,
    auth: dict[str, str],
    server: str,
) -> None:
    from execlog_db.url import to_asyncpg_dsn

    execution = uuid4()
    others = [
        await asyncpg.connect(migrated.asyncpg_dsn),
        await asyncpg.connect(to_asyncpg_dsn(database_server_url)),
    ]
    try:
        for conn in others:
            await conn.execute("BEGIN")
            await conn.fetchval("SELECT pg_current_xact_id()")
        await LogWriter(pool, "copy").write_batches([_batch(execution, 2, "fresh")])
        url = f"{server}/v1/executions/{execution}/logs"
        async with httpx.AsyncClient(timeout=10) as client:
            listing = (await client.get(url, headers=auth)).json()
            assert [i["message"] for i in listing["items"]] == ["fresh 0", "fresh 1"]
            async with client.stream("GET", f"{url}/stream", headers=auth) as resp:
                tail = await asyncio.wait_for(_take(_events(resp), 2), 10)
        assert len(tail) == 2
    finally:
        for conn in others:
            await conn.close()


def _row(batch: Any) -> tuple[Any, ...]:
    from execlog_worker.ingest.writer import batch_rows

    rows, _ = batch_rows([batch])
    return rows[0]
