"""``create_app()``: the FastAPI application, its lifespan, middleware and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from execlog_api._version import __version__
from execlog_api.deps import Services
from execlog_api.engine.brain import BackoffSettings, ExecutionManager, WorkflowBrain
from execlog_api.engine.runners import HttpRunner, default_runners
from execlog_api.gc_tuning import freeze_gc, unfreeze_gc
from execlog_api.logger.setup import logger_from_settings
from execlog_api.logger.singleton import set_execution_logger
from execlog_api.routers import executions, health, logs
from execlog_api.settings import Settings, get_settings
from execlog_db.engine import create_engine
from execlog_producer import ExecutionLogger
from execlog_schema.payload import to_json
from execlog_service.log_setup import configure_logging
from execlog_service.request_id import HEADER as REQUEST_ID_HEADER
from execlog_service.request_id import Observer, RequestIdMiddleware, current_request_id
from execlog_service.settings import log_deprecated_settings

_log = structlog.get_logger("execlog_api.app")
BODY_PARSE_ERROR = "There was an error parsing the body"

DESCRIPTION = """
Workflow executions and their logs.

* `POST /api/v1/executions` starts an execution (202, id at once) that runs its steps in the
  background; `GET /api/v1/executions/{id}` shows progress.
* Every runner, retry and engine event is logged through the ExecutionLogger, which ships
  batches to the log-worker through Celery (queue `logs`), with an HTTP fallback and a disk
  spool, never blocking a request.
* Logs are read through `GET /api/v1/executions/{id}/logs` (filters, keyset cursor) and
  `/logs/stream` (server-sent events), both proxied to the log-worker.
"""


class _RegistryBridge(Collector):
    """Exposes another registry's metrics (an injected logger's) through the app's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        """Everything the source registry has now."""
        return list(self.source.collect())


class AppMetrics:
    """Request counters/latency, running executions and database pool waits, in the app's
    registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "execlog_api_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "execlog_api_http_request_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=registry,
        )
        self.executions_running = Gauge(
            "execlog_api_executions_running",
            "Executions running in this process",
            registry=registry,
        )
        self.pool_wait = Histogram(
            "execlog_api_db_pool_wait_seconds",
            "How long a database connection checkout waited for the pool",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.pool_timeouts = Counter(
            "execlog_api_db_pool_timeouts",
            "Connection checkouts that ran into DB_POOL_TIMEOUT (pool exhausted)",
            registry=registry,
        )

    def observe_pool_wait(self, seconds: float, timed_out: bool) -> None:
        """:data:`execlog_db.engine.PoolWaitObserver` for the app's engine."""
        self.pool_wait.observe(seconds)
        if timed_out:
            self.pool_timeouts.inc()


def request_observer(metrics: AppMetrics) -> Observer:
    """Counts and times each request by route template; forgets the execution it bound."""

    def observe(scope: Scope, status_code: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        metrics.requests.labels(method, template, str(status_code)).inc()
        metrics.latency.labels(method, template).observe(elapsed)
        _log.debug(
            "request",
            method=method,
            route=template,
            status=status_code,
            ms=round(elapsed * 1000, 3),
        )
        structlog.contextvars.unbind_contextvars("execution_id")

    return observe


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id is not None:
        request.headers[REQUEST_ID_HEADER] = request_id


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        item: dict[str, Any] = {
            "loc": [str(p) if not isinstance(p, int) else p for p in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        ctx = error.get("ctx")
        if ctx:
            item["ctx"] = to_json({k: str(v) for k, v in ctx.items()})
        errors.append(cast(dict[str, Any], to_json(item)))
    return errors


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{loc}: {error['msg']}")
    more = len(errors) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def install_error_handlers(app: FastAPI) -> None:
    """422 with a clear message for bad input; 503 for an unreachable database; never a raw 500."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        return JSONResponse(
            {"detail": errors, "message": f"invalid request: {_summary(errors)}"},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            errors = [
                {"loc": ["body"], "msg": "body is not valid UTF-8 JSON", "type": "json_invalid"}
            ]
            return JSONResponse(
                {"detail": errors, "message": f"invalid request: {_summary(errors)}"},
                status_code=422,
            )
        if exc.status_code == 422 and isinstance(exc.detail, list):
            return JSONResponse(
                {"detail": exc.detail, "message": f"invalid request: {_summary(exc.detail)}"},
                status_code=422,
            )
        return await http_exception_handler(request, exc)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        _log.warning("database_unavailable", error=f"{type(exc).__name__}: {exc}")
        return JSONResponse(
            {"detail": f"database unavailable ({type(exc).__name__}); try again later"},
            status_code=503,
        )

    for error_type in (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.TimeoutError,
        sa_exc.DisconnectionError,
        ConnectionError,
        TimeoutError,
    ):
        app.add_exception_handler(error_type, database_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled_error")
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the service log"},
            status_code=500,
        )


def _build_services(
    app: FastAPI,
    settings: Settings,
    logger: ExecutionLogger | None,
    registry: CollectorRegistry,
    app_metrics: AppMetrics,
) -> tuple[Services, bool]:
    owns_logger = logger is None
    engine = create_engine(
        settings.database_url,
        pool_wait=app_metrics.observe_pool_wait,
        **settings.db_pool.model_dump(),
    )
    if logger is None:
        logger = logger_from_settings(settings, registry, engine=engine)
    elif logger.metrics.registry is not registry:
        registry.register(_RegistryBridge(logger.metrics.registry))
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    http = httpx.AsyncClient(follow_redirects=False, timeout=settings.http_step_max_timeout)
    runners = default_runners(
        http,
        http_max_timeout=settings.http_step_max_timeout,
        allowed_hosts=frozenset(h.lower() for h in settings.http_step_allowed_hosts),
    )
    http_runner = runners["http"]
    assert isinstance(http_runner, HttpRunner)
    brain = WorkflowBrain(
        sessionmaker,
        logger,
        runners,
        backoff=BackoffSettings(
            base=settings.step_retry_backoff_base, maximum=settings.step_retry_backoff_max
        ),
    )
    headers = {}
    token = settings.log_api_token.get_secret_value()
    if token:
        headers["authorization"] = f"Bearer {token}"
    worker = httpx.AsyncClient(
        base_url=settings.log_worker_url or "http://log-worker.invalid",
        headers=headers,
        # The log-worker logs the reads it serves under the API request's id.
        event_hooks={"request": [_forward_request_id]},
        timeout=httpx.Timeout(
            settings.log_worker_timeout, connect=min(2.0, settings.log_worker_timeout)
        ),
    )
    services = Services(
        settings=settings,
        logger=logger,
        engine=engine,
        sessionmaker=sessionmaker,
        manager=ExecutionManager(brain),
        http_runner=http_runner,
        worker=worker,
        http=http,
        registry=registry,
    )
    return services, owns_logger


def create_app(
    settings: Settings | None = None,
    *,
    execution_logger: ExecutionLogger | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    """The API app. ``execution_logger`` injects a logger (else one is built from settings and
    closed at shutdown, after running executions finished or were cancelled)."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    app_metrics = AppMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.log_format, settings.log_level)
        services, owns_logger = _build_services(
            app, settings, execution_logger, registry, app_metrics
        )
        app_metrics.executions_running.set_function(lambda: services.manager.active)
        services.logger.start()
        set_execution_logger(services.logger)
        app.state.services = services
        if settings.gc_freeze:
            freeze_gc()
        _log.info(
            "api_started",
            version=__version__,
            database=settings.redacted_database_url(),
            log_worker=settings.log_worker_url,
            spool=str(settings.log_spool_dir),
        )
        log_deprecated_settings(_log, settings)
        try:
            yield
        finally:
            await services.manager.shutdown(settings.shutdown_grace)
            if owns_logger:
                await services.logger.aclose()
                set_execution_logger(None)
            else:
                await services.logger.flush(timeout=settings.log_shutdown_timeout)
            await services.worker.aclose()
            if settings.gc_freeze:
                unfreeze_gc()
            await services.http.aclose()
            await services.engine.dispose()
            _log.info("api_stopped")

    app = FastAPI(
        title="execlog API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware, observe=request_observer(app_metrics))
    install_error_handlers(app)
    app.include_router(executions.router)
    app.include_router(logs.router)
    app.include_router(health.router)
    return app
