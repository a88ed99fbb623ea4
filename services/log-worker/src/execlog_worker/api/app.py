"""FastAPI application factory of the log-worker API (``execlog-worker api``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg  # type: ignore[import-untyped,unused-ignore]
from fastapi import FastAPI, Request, Response

from execlog_schema.wire import QUEUE_NAME
from execlog_service.log_setup import get_logger
from execlog_service.request_id import RequestIdMiddleware
from execlog_service.settings import log_deprecated_settings
from execlog_worker._version import __version__
from execlog_worker.api.deps import Resources
from execlog_worker.api.queries import WatermarkCache
from execlog_worker.api.responses import json_response
from execlog_worker.api.routers import batches, health, logs
from execlog_worker.broker import async_redis_client, redis_client
from execlog_worker.errors import describe
from execlog_worker.ingest.pool import create_pool
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.metrics import QueueLengthCollector
from execlog_worker.settings import Settings, get_settings

log = get_logger(__name__)

_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database error", path=request.url.path, error=describe(exc))
    return json_response(
        {"detail": f"database unavailable, retry later ({type(exc).__name__})"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API app; the lifespan opens a lazy pool (min 0) so it starts even if the DB is down."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings, role="api", min_size=0)
        broker = async_redis_client(settings)
        app.state.resources = Resources(
            settings=settings,
            pool=pool,
            writer=LogWriter(pool, settings.write_method),
            redis=broker,
            queue=QueueLengthCollector(
                partial(redis_client, settings), settings.queue_key, QUEUE_NAME
            ),
            watermarks=WatermarkCache(ttl=settings.stream_poll_interval / 2),
        )
        log.info("api started", version=__version__, database=settings.database_url_redacted)
        log_deprecated_settings(log, settings)
        try:
            yield
        finally:
            try:
                await asyncio.wait_for(pool.close(), timeout=10.0)
            except TimeoutError:
                pool.terminate()
            await broker.aclose()

    app = FastAPI(
        title="execlog log-worker API",
        version=__version__,
        lifespan=lifespan,
        description="Read execution logs (filters, keyset pages, live tail) and ingest batches.",
    )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(logs.router)
    app.include_router(batches.router)
    for exc_type in _UNAVAILABLE:
        app.add_exception_handler(exc_type, _database_unavailable)
    return app
