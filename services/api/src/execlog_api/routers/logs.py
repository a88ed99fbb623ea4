"""Execution logs: read (proxied to log-worker's API, live tail as SSE) and ingest (producer).

Reads keep log-worker's parameters and answers: ``level`` (minimum), ``since``/``until``
(``created_at`` bounds, with offset), ``node_id``, ``component``, ``q`` (message contains),
``trace_id`` (32 hex digits, any case; sent lower case), ``order``, ``cursor``, ``limit``;
a page is ``{execution_id, items, next_cursor, tail_cursor}``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import httpx
import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AwareDatetime

from execlog_api.db import repository as repo
from execlog_api.deps import ExecutionLoggerDep, SessionDep, WorkerClientDep
from execlog_api.schemas import LogIngest, LogIngestAccepted, Problem
from execlog_api.step_specs import TEXT
from execlog_schema.models import LogLevel
from execlog_schema.read import LogPage

router = APIRouter(prefix="/api/v1/executions", tags=["logs"])
_log = structlog.get_logger("execlog_api.logs")

MAX_QUERY_CHARS = 1000
MAX_CURSOR_CHARS = 1024
STREAM_CONNECT_TIMEOUT = 10.0
PASSED_THROUGH = frozenset({400, 422})

UPSTREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Cursor invalid or issued for another query."},
    404: {"model": Problem, "description": "No execution with this id."},
    502: {"model": Problem, "description": "log-worker answered with an error."},
    503: {"model": Problem, "description": "log-worker (or the database) is unreachable."},
}


LevelQ = Annotated[LogLevel | None, Query(description="Minimum level.")]
SinceQ = Annotated[
    AwareDatetime | None, Query(description="created_at >= since (RFC 3339 with offset).")
]
UntilQ = Annotated[
    AwareDatetime | None, Query(description="created_at < until (RFC 3339 with offset).")
]
NodeQ = Annotated[str | None, Query(min_length=1, max_length=255, pattern=TEXT)]
ComponentQ = Annotated[str | None, Query(min_length=1, max_length=64, pattern=TEXT)]
TextQ = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        pattern=TEXT,
        description="Message contains this text (case-insensitive).",
    ),
]
TraceQ = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9a-fA-F]{32}$",
        description="Records logged under this OpenTelemetry trace (W3C trace-id, 32 hex digits).",
    ),
]
OrderQ = Annotated[Literal["asc", "desc"], Query(description="By created_at, then id.")]
CursorQ = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        pattern=TEXT,
        description="List: next_cursor of the previous page. Stream: a tail_cursor or event id.",
    ),
]
LimitQ = Annotated[int | None, Query(ge=1, le=1000, description="Page size (default 100).")]


def log_filters(
    level: LevelQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    node_id: NodeQ = None,
    component: ComponentQ = None,
    q: TextQ = None,
    trace_id: TraceQ = None,
    cursor: CursorQ = None,
) -> dict[str, str]:
    """The filters both log endpoints take, as log-worker query parameters (unset ones left out)."""
    if since is not None and until is not None and since >= until:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", "since"],
                    "msg": "'since' must be before 'until'",
                    "type": "value_error",
                }
            ],
        )
    params: dict[str, str | None] = {
        "level": None if level is None else level.value,
        "since": None if since is None else since.isoformat(),
        "until": None if until is None else until.isoformat(),
        "node_id": node_id,
        "component": component,
        "q": q,
        "trace_id": None if trace_id is None else trace_id.lower(),
        "cursor": cursor,
    }
    return {k: v for k, v in params.items() if v is not None}


FiltersDep = Annotated[dict[str, str], Depends(log_filters)]


async def _require_execution(session: SessionDep, execution_id: uuid.UUID) -> None:
    structlog.contextvars.bind_contextvars(execution_id=str(execution_id))
    if not await repo.execution_exists(session, execution_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"execution {execution_id} not found")


def _unreachable(exc: httpx.HTTPError) -> HTTPException:
    _log.warning("log_worker_unreachable", error=f"{type(exc).__name__}: {exc}")
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"log-worker unreachable ({type(exc).__name__}); try again later",
    )


def _bad_upstream(response: httpx.Response, body: bytes) -> Response:
    code = response.status_code
    if code in PASSED_THROUGH:
        content_type = response.headers.get("content-type", "application/json")
        return Response(body, status_code=code, media_type=content_type)
    if code in (401, 403):
        detail = f"log-worker refused the API's credentials ({code}); check LOG_API_TOKEN"
    else:
        detail = f"log-worker answered {code}"
    _log.warning("log_worker_error", status=code)
    return JSONResponse({"detail": detail}, status_code=status.HTTP_502_BAD_GATEWAY)


@router.get(
    "/{execution_id}/logs",
    response_model=LogPage,
    responses=UPSTREAM_ERRORS,
    summary="Read an execution's logs",
)
async def read_logs(
    execution_id: uuid.UUID,
    session: SessionDep,
    worker: WorkerClientDep,
    filters: FiltersDep,
    order: OrderQ = "asc",
    limit: LimitQ = None,
) -> Response:
    """Filtered, keyset-paginated records, proxied to log-worker with the same filters."""
    params = {**filters, "order": order}
    if limit is not None:
        params["limit"] = str(limit)
    await _require_execution(session, execution_id)
    await session.close()
    try:
        response = await worker.get(f"/v1/executions/{execution_id}/logs", params=params)
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc
    if response.status_code != 200:
        return _bad_upstream(response, response.content)
    return Response(
        response.content,
        status_code=200,
        media_type=response.headers.get("content-type", "application/json"),
    )


@router.get(
    "/{execution_id}/logs/stream",
    responses={
        200: {"description": "Server-sent events (`log`)", "content": {"text/event-stream": {}}},
        **UPSTREAM_ERRORS,
    },
    response_class=StreamingResponse,
    summary="Live tail of an execution's logs (SSE)",
)
async def stream_logs(
    execution_id: uuid.UUID,
    session: SessionDep,
    worker: WorkerClientDep,
    filters: FiltersDep,
    last_event_id: Annotated[str | None, Header(max_length=MAX_CURSOR_CHARS, pattern=TEXT)] = None,
) -> Response:
    """Server-sent events from log-worker, relayed as they arrive. Each event id is a
    position: reconnect with ``Last-Event-ID`` (or ``cursor``) to resume without gap."""
    await _require_execution(session, execution_id)
    await session.close()
    headers = {"accept": "text/event-stream"}
    if last_event_id:
        headers["last-event-id"] = last_event_id
    request = worker.build_request(
        "GET",
        f"/v1/executions/{execution_id}/logs/stream",
        params=filters,
        headers=headers,
        timeout=httpx.Timeout(STREAM_CONNECT_TIMEOUT, read=None),
    )
    try:
        upstream = await worker.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise _unreachable(exc) from exc
    if upstream.status_code != 200:
        try:
            body = await upstream.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await upstream.aclose()
        return _bad_upstream(upstream, body)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            _log.warning("log_stream_upstream_closed", error=f"{type(exc).__name__}: {exc}")
        finally:
            await upstream.aclose()

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


@router.post(
    "/{execution_id}/logs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LogIngestAccepted,
    responses={404: UPSTREAM_ERRORS[404], 503: UPSTREAM_ERRORS[503]},
    summary="Log records for an execution (external runners)",
)
async def ingest_logs(
    execution_id: uuid.UUID,
    body: LogIngest,
    session: SessionDep,
    logger: ExecutionLoggerDep,
) -> LogIngestAccepted:
    """Records go through the same producer (buffer, broker, fallback, spool) as the engine's;
    the answer carries each record's id."""
    await _require_execution(session, execution_id)
    ids = [
        logger.log(
            execution_id,
            item.level,
            item.message,
            node_id=item.node_id,
            component=item.component,
            payload=item.payload,
            attempt=item.attempt,
        ).id
        for item in body.records
    ]
    return LogIngestAccepted(accepted=len(ids), ids=ids)
