"""HTTP API: auth, keyset pagination without gap or repeat, filters, ingest, health, metrics."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
import orjson
import pytest
import structlog
from asgi_lifespan import LifespanManager

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire, encode_batch
from execlog_schema.models import LogLevel
from execlog_worker.api.app import create_app
from execlog_worker.api.cursor import TailPosition
from execlog_worker.api.queries import LogFilters, fetch_watermark, tail_poll
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.settings import Settings


@pytest.fixture()
async def client(migrated: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(migrated)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


def _records(execution: UUID, n: int, start: datetime, **fields: Any) -> list[Any]:
    fields.setdefault("component", "runner")
    fields.setdefault("level", "INFO")
    msg = fields.pop("message", "line")
    return [
        new_record(
            execution_id=execution,
            message=f"{msg} {i}",
            created_at=start + timedelta(milliseconds=random.randint(0, 10_000)),
            **fields,
        )
        for i in range(n)
    ]


async def _write(pool: asyncpg.Pool, records: list[Any]) -> None:
    producer = make_producer("tests", "1")
    writer = LogWriter(pool)
    for i in range(0, len(records), 50):
        await writer.write_batches([new_batch(records[i : i + 50], producer)])


async def _pages(
    client: httpx.AsyncClient, auth: dict[str, str], execution: UUID, **params: Any
) -> list[Any]:
    pages = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = await client.get(f"/v1/executions/{execution}/logs", params=query, headers=auth)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_worker_api_auth_required_except_health(
    auth: dict[str, str], client: httpx.AsyncClient
) -> None:
    url = f"/v1/executions/{uuid4()}/logs"
    missing = await client.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (await client.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (
        await client.get(
            url, headers={"Authorization": auth["Authorization"].replace("Bearer", "Basic")}
        )
    ).status_code == 401
    assert (await client.post("/v1/batches", content=b"{}")).status_code == 401
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get(f"{url}/stream")).status_code == 401
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert (await client.get(url, headers=auth)).json()["items"] == []
    proxied = await client.get(url, headers={**auth, "X-Request-ID": "from-the-api-1"})
    assert proxied.headers["x-request-id"] == "from-the-api-1"


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_worker_api_pagination_no_gap_no_repeat(
    auth: dict[str, str], client: httpx.AsyncClient, pool: asyncpg.Pool, order: str
) -> None:
    execution = uuid4()
    base = datetime(2030, 1, 1, tzinfo=UTC)
    records = _records(execution, 257, base)
    same_instant = [
        new_record(
            execution_id=execution, level="INFO", message="tie", component="c", created_at=base
        )
        for _ in range(30)
    ]
    random.shuffle(records)
    await _write(pool, records + same_instant)
    await _write(pool, _records(uuid4(), 40, base))

    pages = []
    cursor = None
    late: list[Any] = []
    while True:
        query: dict[str, Any] = {"limit": 41, "order": order}
        if cursor:
            query["cursor"] = cursor
        resp = await client.get(f"/v1/executions/{execution}/logs", params=query, headers=auth)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body)
        if len(pages) == 2:
            # Rows committed while paging (some sort before the cursor): not in this listing,
            # they belong to the tail that follows it.
            late = _records(execution, 5, base)
            await _write(pool, late)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [item["id"] for page in pages for item in page["items"]]
    assert len(ids) == len(set(ids)) == 287
    assert set(ids) == {str(r.id) for r in records + same_instant}
    keys = [
        (datetime.fromisoformat(item["created_at"]), UUID(item["id"]))
        for page in pages
        for item in page["items"]
    ]
    assert keys == sorted(keys, reverse=order == "desc")
    assert all(len(page["items"]) == 41 for page in pages[:-1])

    async with pool.acquire() as conn:
        poll = await tail_poll(
            conn,
            execution,
            LogFilters(),
            TailPosition.decode(pages[0]["tail_cursor"]),
            1000,
            watermark=await fetch_watermark(conn),
        )
    assert {item["id"] for _, item in poll.rows} == {str(r.id) for r in late}


async def test_worker_api_filters(
    auth: dict[str, str], client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    execution = uuid4()
    base = datetime(2030, 2, 1, tzinfo=UTC)
    await _write(pool, _records(execution, 10, base, level="DEBUG", node_id="a"))
    await _write(pool, _records(execution, 7, base, level="WARNING", node_id="b"))
    await _write(pool, _records(execution, 3, base, level="CRITICAL", component="brain"))
    await _write(pool, _records(execution, 2, base, message="100%_done\\ok"))
    later = base + timedelta(hours=1)
    await _write(pool, _records(execution, 4, later, level="ERROR"))

    async def ids(**params: Any) -> list[str]:
        return [
            i["id"] for p in await _pages(client, auth, execution, **params) for i in p["items"]
        ]

    assert len(await ids(level="WARNING")) == 14
    assert len(await ids(level="ERROR", limit=2)) == 7
    assert len(await ids(node_id="b")) == 7
    assert len(await ids(component="brain")) == 3
    assert len(await ids(q="0%_DONE\\")) == 2
    assert len(await ids(q="%")) == 2
    assert len(await ids(since=later.isoformat())) == 4
    assert len(await ids(until=later.isoformat(), level="CRITICAL")) == 3


async def test_worker_api_bad_requests_are_4xx(
    auth: dict[str, str], client: httpx.AsyncClient
) -> None:
    execution = uuid4()
    url = f"/v1/executions/{execution}/logs"

    async def status(path: str, **params: Any) -> tuple[int, str]:
        resp = await client.get(path, params=params, headers=auth)
        return resp.status_code, resp.text

    assert (await status(url, limit=1001))[0] == 422
    assert (await status(url, limit=0))[0] == 422
    assert (await status("/v1/executions/not-a-uuid/logs"))[0] == 422
    assert (await status(url, level="LOUD"))[0] == 422
    assert (await status(url, since="2030-01-01T00:00:00"))[0] == 422
    code, text = await status(url, since="2030-01-02T00:00:00Z", until="2030-01-01T00:00:00Z")
    assert code == 400
    assert "since" in text
    code, text = await status(url, cursor="garbage!")
    assert (code, "invalid cursor" in text) == (400, True)
    assert (await status(url, q="a\x00b"))[0] == 400
    assert (await status(f"{url}/stream", cursor="garbage"))[0] == 400


async def test_worker_api_cursor_bound_to_its_query(
    auth: dict[str, str], client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    execution = uuid4()
    await _write(pool, _records(execution, 5, datetime(2030, 3, 1, tzinfo=UTC)))
    url = f"/v1/executions/{execution}/logs"
    first = (await client.get(url, params={"limit": 2}, headers=auth)).json()
    cursor = first["next_cursor"]
    for params in ({"level": "ERROR"}, {"order": "desc"}):
        resp = await client.get(url, params={"cursor": cursor, **params}, headers=auth)
        assert resp.status_code == 400
        assert "another query" in resp.json()["detail"]
    other = await client.get(
        f"/v1/executions/{uuid4()}/logs", params={"cursor": cursor}, headers=auth
    )
    assert other.status_code == 400


async def test_worker_api_post_batch(
    auth: dict[str, str],
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    make_batch: Any,
    migrated: Settings,
) -> None:
    batch = make_batch(4)
    resp = await client.post("/v1/batches", content=encode_batch(batch), headers=auth)
    assert resp.status_code == 200, resp.text
    assert resp.json()["written"] == 4
    again = await client.post("/v1/batches", json=batch_to_wire(batch), headers=auth)
    assert (again.json()["written"], again.json()["duplicates"]) == (0, 4)

    bad = batch_to_wire(make_batch(1))
    bad["records"][0]["message"] = "nul\x00"
    rejected = await client.post("/v1/batches", content=orjson.dumps(bad), headers=auth)
    assert rejected.status_code == 422
    body = rejected.json()
    assert "NUL" in body["reason"]
    assert body["batch_id"] == bad["batch_id"]
    row = await pool.fetchrow(
        "SELECT kind, source FROM execution_log_rejects WHERE id = $1", body["reject_id"]
    )
    assert dict(row) == {"kind": "invalid", "source": "api"}
    not_json = await client.post("/v1/batches", content=b"{oops", headers=auth)
    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.json()["reason"]
    big = b"x" * (migrated.api_max_body_bytes + 1)
    assert (await client.post("/v1/batches", content=big, headers=auth)).status_code == 413
    assert await pool.fetchval("SELECT count(*) FROM execution_log_rejects") == 2

    metrics = await client.get("/metrics", headers=auth)
    assert metrics.status_code == 200
    assert 'execlog_records_written_total{source="api"}' in metrics.text
    assert "execlog_queue_length" in metrics.text
    assert "execlog_write_seconds_bucket" in metrics.text


async def test_worker_api_logs_deprecated_settings_at_start(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRY_BACKOFF_BASE", "0.5")
    monkeypatch.setenv("RETRY_BACKOFF_MAX", "2")
    with pytest.warns(DeprecationWarning, match="RETRY_BACKOFF_MAX is deprecated: use"):
        settings = Settings(**migrated.model_dump(exclude={"task_retry_backoff_max"}))
    assert settings.task_retry_backoff_max == 2.0
    with structlog.testing.capture_logs() as logs:
        async with LifespanManager(create_app(settings)):
            pass
    assert [
        (e["old"], e["new"], e["ignored"]) for e in logs if e["event"] == "deprecated setting"
    ] == [
        ("RETRY_BACKOFF_BASE", "TASK_RETRY_BACKOFF_BASE", True),
        ("RETRY_BACKOFF_MAX", "TASK_RETRY_BACKOFF_MAX", False),
    ]


async def test_worker_api_database_down_is_503_not_500(
    auth: dict[str, str], settings: Settings, free_port: int
) -> None:
    down = settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port}/x"}
    )
    app = create_app(down)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            ready = await c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["database"].startswith("error")
            assert ready.json()["broker"] == "ok"
            resp = await c.get(f"/v1/executions/{uuid4()}/logs", headers=auth)
            assert resp.status_code == 503
            assert resp.headers["retry-after"] == "5"
            assert (await c.get("/healthz")).status_code == 200


async def test_worker_api_trace_context_in_items_and_as_filter(
    auth: dict[str, str], client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    execution = uuid4()
    base = datetime(2030, 4, 1, tzinfo=UTC)
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    await _write(pool, _records(execution, 3, base, trace_id=trace_id, span_id=span_id))
    await _write(pool, _records(execution, 2, base))
    items = [i for p in await _pages(client, auth, execution) for i in p["items"]]
    pairs = [(i["trace_id"], i["span_id"]) for i in items]
    assert (pairs.count((None, None)), pairs.count((trace_id, span_id))) == (2, 3)
    for query in (trace_id, trace_id.upper()):
        pages = await _pages(client, auth, execution, trace_id=query, limit=2)
        found = [i for p in pages for i in p["items"]]
        assert len(found) == 3
        assert {i["trace_id"] for i in found} == {trace_id}
    url = f"/v1/executions/{execution}/logs"
    for bad in ("abc", trace_id + "0", "g" * 32):
        resp = await client.get(url, params={"trace_id": bad}, headers=auth)
        assert resp.status_code == 422
    first = (await client.get(url, params={"limit": 1}, headers=auth)).json()
    resp = await client.get(
        url, params={"cursor": first["next_cursor"], "trace_id": trace_id}, headers=auth
    )
    assert resp.status_code == 400
    position = TailPosition(txid=0, seq=-1)
    async with pool.acquire() as conn:
        poll = await tail_poll(
            conn,
            execution,
            LogFilters(trace_id=trace_id),
            position,
            100,
            watermark=await fetch_watermark(conn),
        )
    assert [item["span_id"] for _, item in poll.rows] == [span_id] * 3


def test_worker_api_cursors_without_trace_filter_keep_their_fingerprint() -> None:
    from execlog_worker.api.cursor import filters_fingerprint

    execution = uuid4()
    before_trace_filter = filters_fingerprint(str(execution), "ERROR", None, None, "n", None, None)
    assert LogFilters(min_level=LogLevel.ERROR, node_id="n").fingerprint(execution) == (
        before_trace_filter
    )
