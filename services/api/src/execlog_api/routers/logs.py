"""Execution logs: read (proxied to log-worker's API, live tail as SSE) and ingest (producer)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
import structlog
from execlog_schema.models import LogLevel
from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse, Response, StreamingResponse

from execlog_api.db import repository as repo
from execlog_api.deps import ExecutionLoggerDep, SessionDep, WorkerClientDep
from execlog_api.engine.steps import TEXT
from execlog_api.schemas import LogIngest, LogIngestAccepted, Problem

router = APIRouter(prefix="/api/v1/executions", tags=["logs"])
_log = structlog.get_logger("execlog_api.logs")

UPSTREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No execution with this id."},
    502: {"model": Problem, "description": "log-worker answered with an error."},
    503: {"model": Problem, "description": "log-worker (or the database) is unreachable."},
}
MAX_QUERY_CHARS = 200


async def _require_execution(session: SessionDep, execution_id: uuid.UUID) -> None:
    structlog.contextvars.bind_contextvars(execution_id=str(execution_id))
    if not await repo.execution_exists(session, execution_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"execution {execution_id} not found")


def _filters(
    level: LogLevel | None,
    since: datetime | None,
    until: datetime | None,
    node_id: str | None,
    component: str | None,
    q: str | None,
    order: str,
    cursor: str | None,
    limit: int | None,
) -> dict[str, str]:
    params: dict[str, Any] = {
        "level": None if level is None else level.value,
        "since": None if since is None else since.isoformat(),
        "until": None if until is None else until.isoformat(),
        "node_id": node_id,
        "component": component,
        "q": q,
        "order": order,
        "cursor": cursor,
        "limit": None if limit is None else str(limit),
    }
    return {k: v for k, v in params.items() if v is not None}


def _upstream_failure(exc: httpx.HTTPError) -> HTTPException:
    _log.warning("log_worker_unreachable", error=f"{type(exc).__name__}: {exc}")
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"log-worker unreachable ({type(exc).__name__}); try again later",
    )


def _bad_upstream(response: httpx.Response, body: bytes) -> Response:
    code = response.status_code
    if code in (401, 403):
        detail = f"log-worker refused the API's credentials ({code}); check LOG_API_TOKEN"
        return JSONResponse({"detail": detail}, status_code=status.HTTP_502_BAD_GATEWAY)
    if 400 <= code < 500:
        content_type = response.headers.get("content-type", "application/json")
        return Response(body, status_code=code, media_type=content_type)
    detail = f"log-worker answered {code}"
    return JSONResponse({"detail": detail}, status_code=status.HTTP_502_BAD_GATEWAY)


LevelQ = Annotated[LogLevel | None, Query(description="Only this level and above.")]
SinceQ = Annotated[datetime | None, Query(description="created_at >= since (RFC 3339).")]
UntilQ = Annotated[datetime | None, Query(description="created_at < until (RFC 3339).")]
NodeQ = Annotated[str | None, Query(min_length=1, max_length=255, pattern=TEXT)]
ComponentQ = Annotated[str | None, Query(min_length=1, max_length=64, pattern=TEXT)]
TextQ = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=TEXT, description="Text search."),
]
OrderQ = Annotated[Literal["asc", "desc"], Query(description="By record id (time order).")]
CursorQ = Annotated[
    str | None,
    Query(
        min_length=1, max_length=512, pattern=TEXT, description="next_cursor of a previous page."
    ),
]
LimitQ = Annotated[int | None, Query(ge=1, le=1000, description="Page size.")]


@router.get(
    "/{execution_id}/logs",
    responses={200: {"description": "A page of records (log-worker's format)."}, **UPSTREAM_ERRORS},
    summary="Read an execution's logs",
)
async def read_logs(
    execution_id: uuid.UUID,
    session: SessionDep,
    worker: WorkerClientDep,
    level: LevelQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    node_id: NodeQ = None,
    component: ComponentQ = None,
    q: TextQ = None,
    order: OrderQ = "asc",
    cursor: CursorQ = None,
    limit: LimitQ = None,
) -> Response:
    """Filtered, keyset-paginated records, proxied to log-worker with the same filters."""
    params = _filters(level, since, until, node_id, component, q, order, cursor, limit)
    await _require_execution(session, execution_id)
    try:
        response = await worker.get(f"/v1/executions/{execution_id}/logs", params=params)
    except httpx.HTTPError as exc:
        raise _upstream_failure(exc) from exc
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
        200: {"description": "Server-sent events", "content": {"text/event-stream": {}}},
        **UPSTREAM_ERRORS,
    },
    response_class=StreamingResponse,
    summary="Live tail of an execution's logs (SSE)",
)
async def stream_logs(
    execution_id: uuid.UUID,
    session: SessionDep,
    worker: WorkerClientDep,
    level: LevelQ = None,
    since: SinceQ = None,
    node_id: NodeQ = None,
    component: ComponentQ = None,
    q: TextQ = None,
    cursor: CursorQ = None,
    last_event_id: Annotated[str | None, Header(max_length=512)] = None,
) -> Response:
    """Server-sent events from log-worker, streamed through as they arrive."""
    params = _filters(level, since, None, node_id, component, q, "asc", cursor, None)
    await _require_execution(session, execution_id)
    await session.close()
    headers = {"accept": "text/event-stream"}
    if last_event_id:
        headers["last-event-id"] = last_event_id
    request = worker.build_request(
        "GET",
        f"/v1/executions/{execution_id}/logs/stream",
        params=params,
        headers=headers,
        timeout=httpx.Timeout(10.0, read=None),
    )
    try:
        upstream = await worker.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise _upstream_failure(exc) from exc
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
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
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
    """Records go through the same producer (buffer, broker, fallback, spool) as the engine's."""
    await _require_execution(session, execution_id)
    ids = []
    for item in body.records:
        record = logger.log(
            execution_id,
            item.level,
            item.message,
            node_id=item.node_id,
            component=item.component,
            payload=item.payload,
            attempt=item.attempt,
        )
        ids.append(record.id)
    return LogIngestAccepted(accepted=len(ids), ids=ids)
