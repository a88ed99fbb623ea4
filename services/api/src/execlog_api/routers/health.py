"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from execlog_api.deps import ServicesDep
from execlog_api.schemas import Health

router = APIRouter(tags=["health"])
DB_CHECK_TIMEOUT = 2.0


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready (database unreachable)."}},
    summary="Readiness",
)
async def readyz(services: ServicesDep) -> Response:
    """Ready when the database answers and the logger runs; broker state is reported only
    (a broker outage is absorbed by the HTTP fallback and the disk spool)."""
    checks: dict[str, Any] = {}
    ready = True
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT):
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        ready = False
        checks["database"] = f"unavailable: {type(exc).__name__}"
    logger_state = services.logger.state()
    checks["logger"] = logger_state
    if not logger_state["running"]:
        ready = False
    checks["executions_running"] = services.manager.active
    body = Health(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
async def metrics(services: ServicesDep) -> Response:
    """Logger, HTTP and execution metrics of this process."""
    return Response(generate_latest(services.registry), media_type=CONTENT_TYPE_LATEST)
