"""execlog_producer.fastapi: install() around an app's own lifespan, lifespan(), the dependency.

The broker is a closed port and the HTTP fallback is off, so every record ends in the test's
spool directory: what is on disk after shutdown is what the app logged (nothing lost).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from starlette.types import ASGIApp

from execlog_producer import ExecutionLogger, ProducerSettings
from execlog_producer.fastapi import (
    STATE_NAME,
    ExecutionLoggerDep,
    get_execution_logger,
    install,
    lifespan,
)
from execlog_schema.codec import decode_batch

EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000fa")


@pytest.fixture()
def settings(tmp_path: Path) -> ProducerSettings:
    """No reachable broker (port 9), no HTTP fallback, a private spool."""
    return ProducerSettings(
        redis_url="redis://127.0.0.1:9/0",
        broker_publish_max_retries=0,
        http_fallback=False,
        publish_process=False,
        spool_dir=tmp_path / "spool",
        flush_interval=60.0,
        shutdown_timeout=20.0,
        service_name="fastapi-test",
    )


def spooled_ids(spool_dir: Path) -> list[str]:
    """Ids of every record in the spool, in file order."""
    return [
        str(record.id)
        for path in sorted(spool_dir.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        for record in decode_batch(line).records
    ]


def add_log_route(app: FastAPI) -> None:
    @app.post("/log")
    async def log_route(logger: ExecutionLoggerDep) -> dict[str, str]:
        record = logger.info(EXECUTION, "from a route", node_id="n1")
        return {"id": str(record.id)}


def client(app: ASGIApp) -> httpx.AsyncClient:
    """An httpx client calling ``app`` in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


async def test_install_keeps_the_apps_lifespan_and_drains_to_the_spool(
    settings: ProducerSettings,
) -> None:
    events: list[str] = []
    shutdown_ids: list[str] = []

    @asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        logger: ExecutionLogger = getattr(app.state, STATE_NAME)
        events.append(f"startup running={logger.running}")
        yield {"greeting": "hello"}
        shutdown_ids.append(str(logger.info(EXECUTION, "from the app's shutdown").id))
        events.append("shutdown")

    app = FastAPI(lifespan=own_lifespan)
    add_log_route(app)

    @app.get("/state")
    async def state_route(request: Request, logger: ExecutionLoggerDep) -> dict[str, object]:
        return {"greeting": request.state.greeting, "running": logger.running}

    logger = install(app, settings)
    assert getattr(app.state, STATE_NAME) is logger
    assert not logger.running

    async with LifespanManager(app) as manager, client(manager.app) as http:
        assert events == ["startup running=True"]
        response = await http.post("/log")
        assert response.status_code == 200
        route_id = response.json()["id"]
        assert (await http.get("/state")).json() == {"greeting": "hello", "running": True}
    assert events == ["startup running=True", "shutdown"]
    assert logger.closed
    assert not logger.running
    assert spooled_ids(settings.spool_dir) == [route_id, *shutdown_ids]
    assert logger.metrics.dropped_total() == 0


async def test_lifespan_factory_runs_a_logger_for_an_app(settings: ProducerSettings) -> None:
    app = FastAPI(lifespan=lifespan(settings))
    add_log_route(app)
    async with LifespanManager(app) as manager, client(manager.app) as http:
        logger = getattr(app.state, STATE_NAME)
        assert isinstance(logger, ExecutionLogger)
        assert logger.running
        route_id = (await http.post("/log")).json()["id"]
    assert logger.closed
    assert spooled_ids(settings.spool_dir) == [route_id]


async def test_a_second_start_of_an_installed_app_gets_a_fresh_logger(
    settings: ProducerSettings,
) -> None:
    app = FastAPI()
    add_log_route(app)
    first = install(app, settings)
    ids = []
    for _ in range(2):
        async with LifespanManager(app) as manager, client(manager.app) as http:
            ids.append((await http.post("/log")).json()["id"])
    second = getattr(app.state, STATE_NAME)
    assert second is not first
    assert first.closed
    assert second.closed
    assert spooled_ids(settings.spool_dir) == ids


async def test_a_given_logger_is_started_and_closed_by_the_app(
    settings: ProducerSettings,
) -> None:
    from execlog_producer import logger_from_settings

    given = logger_from_settings(settings)
    app = FastAPI()
    assert install(app, logger=given) is given
    async with LifespanManager(app):
        assert given.running
    assert given.closed
    with pytest.raises(RuntimeError, match="closed"):
        async with LifespanManager(app):
            pass


def test_install_twice_is_refused(settings: ProducerSettings) -> None:
    app = FastAPI()
    logger = install(app, settings)
    try:
        with pytest.raises(RuntimeError, match="already"):
            install(app, settings)
    finally:
        logger.close(timeout=5)


async def test_the_dependency_names_install_when_the_app_has_no_logger() -> None:
    app = FastAPI()
    add_log_route(app)
    async with LifespanManager(app) as manager, client(manager.app) as http:
        with pytest.raises(RuntimeError, match=r"install\(app\)"):
            await http.post("/log")
    assert get_execution_logger.__doc__ is not None
    assert "install(app)" in get_execution_logger.__doc__


def test_importing_the_library_does_not_import_fastapi() -> None:
    code = (
        "import sys, execlog_producer; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')); "
        "assert not bad, bad"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
