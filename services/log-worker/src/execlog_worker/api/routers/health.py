"""Liveness, readiness (database and broker reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from execlog_worker.api.deps import ResourcesDep, require_token
from execlog_worker.api.responses import json_response
from execlog_worker.errors import describe
from execlog_worker.metrics import render

router = APIRouter(tags=["health"])
_CHECK_TIMEOUT = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


async def _check_database(resources: ResourcesDep) -> str | None:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            async with resources.pool.acquire() as conn:
                await conn.fetchval("SELECT 1 FROM execution_logs LIMIT 0")
    except Exception as exc:
        return describe(exc) if str(exc) else f"{type(exc).__name__} (timeout)"
    return None


async def _check_broker(resources: ResourcesDep) -> str | None:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            await resources.redis.ping()
    except Exception as exc:
        return describe(exc) if str(exc) else f"{type(exc).__name__} (timeout)"
    return None


@router.get("/readyz")
async def readyz(resources: ResourcesDep) -> Response:
    """200 when the database (with the logs table) and the broker answer, else 503."""
    db_error, broker_error = await asyncio.gather(
        _check_database(resources), _check_broker(resources)
    )
    body: dict[str, Any] = {
        "database": "ok" if db_error is None else f"error: {db_error}",
        "broker": "ok" if broker_error is None else f"error: {broker_error}",
    }
    ready = db_error is None and broker_error is None
    body["status"] = "ready" if ready else "not ready"
    return json_response(body, status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[Depends(require_token)])
async def metrics(resources: ResourcesDep) -> Response:
    """Prometheus text format (records written, duplicates, rejects, latency, queue length)."""
    payload = await run_in_threadpool(render, resources.queue)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
