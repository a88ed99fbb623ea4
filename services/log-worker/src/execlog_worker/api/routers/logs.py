"""Reading logs of one execution: filtered keyset pages, and a live tail (Server-Sent Events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from pydantic import AwareDatetime
from sse_starlette import EventSourceResponse, ServerSentEvent

from execlog_schema.models import LogLevel
from execlog_schema.read import LogPage
from execlog_worker.api.cursor import START, CursorError, ListCursor, Order, TailPosition
from execlog_worker.api.deps import PoolDep, ResourcesDep, require_token
from execlog_worker.api.queries import LogFilters, fetch_watermark, list_page, tail_poll
from execlog_worker.api.responses import json_response
from execlog_worker.errors import describe

router = APIRouter(prefix="/v1/executions", tags=["logs"], dependencies=[Depends(require_token)])

MAX_LIMIT = 1000
TRACE_ID_QUERY_PATTERN = r"^[0-9a-fA-F]{32}$"


def log_filters(
    level: Annotated[LogLevel | None, Query(description="minimum level")] = None,
    since: Annotated[AwareDatetime | None, Query(description="created_at >= since")] = None,
    until: Annotated[AwareDatetime | None, Query(description="created_at < until")] = None,
    node_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    component: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, description="message contains (case-insensitive)"),
    ] = None,
    trace_id: Annotated[
        str | None,
        Query(
            pattern=TRACE_ID_QUERY_PATTERN,
            description="records of this trace (32 hex digits, any case)",
        ),
    ] = None,
) -> LogFilters:
    """Filters from the query string (a bad value is a 4xx, never a 500)."""
    if since is not None and until is not None and since >= until:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "'since' must be before 'until'")
    for name, value in (("node_id", node_id), ("component", component), ("q", q)):
        if value is not None and "\x00" in value:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"'{name}' contains a NUL character")
    return LogFilters(
        level, since, until, node_id, component, q, None if trace_id is None else trace_id.lower()
    )


FiltersDep = Annotated[LogFilters, Depends(log_filters)]


@router.get("/{execution_id}/logs", response_model=LogPage)
async def list_logs(
    execution_id: UUID,
    filters: FiltersDep,
    pool: PoolDep,
    order: Annotated[Order, Query(description="by created_at, then id")] = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=1024, description="next_cursor")] = None,
) -> Response:
    """Logs of one execution, filtered, in time order, by keyset pages (opaque cursor)."""
    parsed: ListCursor | None = None
    if cursor:
        try:
            parsed = ListCursor.decode(cursor)
        except CursorError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid cursor: {exc}") from None
        if parsed.order != order or parsed.filters != filters.fingerprint(execution_id):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "cursor was issued for another query (execution, filters or order differ)",
            )
    async with pool.acquire() as conn:
        watermark = parsed.watermark if parsed else await fetch_watermark(conn)
        page = await list_page(
            conn,
            execution_id,
            filters,
            order=order,
            limit=limit,
            watermark=watermark,
            cursor=parsed,
        )
    return json_response(
        {
            "execution_id": str(execution_id),
            "items": page.items,
            "next_cursor": page.next_cursor,
            "tail_cursor": page.tail_cursor,
        }
    )


@router.get(
    "/{execution_id}/logs/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "log events"}},
)
async def stream_logs(
    execution_id: UUID,
    filters: FiltersDep,
    resources: ResourcesDep,
    cursor: Annotated[
        str | None,
        Query(max_length=1024, description="tail_cursor of a page, or an event id"),
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=1024)] = None,
) -> EventSourceResponse:
    """Live tail: ``log`` events after ``cursor`` (or Last-Event-ID), in commit-safe order.

    Each event's id is its position; reconnecting with it resumes without gap or repeat.
    Without a cursor the tail starts from the first record of the execution.
    """
    token = last_event_id or cursor
    try:
        start = TailPosition.decode(token) if token else START
    except CursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid cursor: {exc}") from None

    settings, pool = resources.settings, resources.pool

    async def events() -> AsyncIterator[ServerSentEvent]:
        position = start
        failing = False
        while True:
            try:
                watermark = await resources.watermarks.get(pool)
                async with pool.acquire() as conn:
                    poll = await tail_poll(
                        conn,
                        execution_id,
                        filters,
                        position,
                        settings.stream_batch_size,
                        watermark=watermark,
                    )
            except Exception as exc:
                if not failing:
                    yield ServerSentEvent(
                        data=orjson.dumps({"error": describe(exc)}).decode(), event="error"
                    )
                failing = True
                await asyncio.sleep(min(5.0, settings.stream_poll_interval * 4))
                continue
            failing = False
            for pos, item in poll.rows:
                yield ServerSentEvent(
                    data=orjson.dumps(item, option=orjson.OPT_UTC_Z).decode(),
                    id=pos.encode(),
                    event="log",
                )
            position = poll.position
            if poll.complete:
                await asyncio.sleep(settings.stream_poll_interval)

    return EventSourceResponse(
        events(), ping=settings.stream_ping_interval, headers={"Cache-Control": "no-store"}
    )
