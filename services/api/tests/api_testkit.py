"""Shared fixtures of the API tests: throwaway database/Redis prefix, fake transports.

The producer's fakes (``FakeSender``, ``make_logger``, ``spool_dir``, ``small_batch``) are the
producer library's own testkit, registered for the API's tests by conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import SecretStr

from execlog_api.app import create_app
from execlog_api.db.migrate import migrate
from execlog_api.deps import Services
from execlog_api.settings import Settings
from execlog_stack.ports import free_port
from execlog_stack.proxy import TcpProxy


@pytest.fixture()
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the shared Redis: ``cut("reset")`` is an outage, ``restore()``."""
    parsed = urlsplit(redis_url)
    with TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379) as proxy:
        yield proxy


@pytest.fixture()
def blackhole() -> Iterator[TcpProxy]:
    """A port that accepts TCP connections and never answers (a hung broker)."""
    proxy = TcpProxy("127.0.0.1", free_port())
    proxy.cut("blackhole")
    with proxy:
        yield proxy


def queued_messages(redis_url: str, key: str) -> list[dict[str, Any]]:
    """The kombu messages waiting in Redis list ``key`` (oldest first)."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(key, 0, -1)
    finally:
        client.close()
    return [json.loads(item) for item in reversed(raw)]


def task_batches(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The LogBatch wire dicts carried by kombu task messages (protocol 2)."""
    batches = []
    for message in messages:
        body = str(message["body"])
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        args, _kwargs, _embed = json.loads(body)
        batches.append(args[0])
    return batches


class FakeWorker:
    """A stand-in for log-worker's HTTP API (served by uvicorn in a thread)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.status = 200
        self.app = self._make_app()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("fake log-worker did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def _make_app(self) -> FastAPI:
        app = FastAPI()
        worker = self

        @app.get("/v1/executions/{execution_id}/logs")
        async def logs(execution_id: str, request: Request) -> Response:
            worker.requests.append(
                {
                    "path": request.url.path,
                    "params": dict(request.query_params),
                    "authorization": request.headers.get("authorization"),
                    "request_id": request.headers.get("x-request-id"),
                }
            )
            if request.query_params.get("cursor") == "bad":
                return JSONResponse({"detail": "invalid cursor: malformed"}, status_code=400)
            if worker.status != 200:
                return JSONResponse({"detail": "boom"}, status_code=worker.status)
            return JSONResponse(
                {
                    "execution_id": execution_id,
                    "items": [],
                    "next_cursor": None,
                    "tail_cursor": "t0",
                }
            )

        @app.get("/v1/executions/{execution_id}/logs/stream")
        async def stream(execution_id: str, request: Request) -> Response:
            worker.requests.append(
                {
                    "path": request.url.path,
                    "params": dict(request.query_params),
                    "authorization": request.headers.get("authorization"),
                    "last_event_id": request.headers.get("last-event-id"),
                }
            )

            async def events() -> AsyncIterator[bytes]:
                for i in range(3):
                    yield f'event: log\nid: p{i}\ndata: {{"n": {i}}}\n\n'.encode()
                    await asyncio.sleep(0.01)

            return StreamingResponse(events(), media_type="text/event-stream")

        @app.get("/ok")
        async def ok() -> dict[str, str]:
            return {"ok": "yes"}

        @app.get("/status/{code}")
        async def status(code: int) -> Response:
            return JSONResponse({"code": code}, status_code=code)

        return app

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture()
def fake_worker() -> Iterator[FakeWorker]:
    """A fake log-worker HTTP API on a free port."""
    worker = FakeWorker()
    yield worker
    worker.close()


@pytest.fixture()
def api_settings(
    database_url: str, redis_url: str, broker_key_prefix: str, tmp_path: Path
) -> Settings:
    """Settings for a test app: own migrated database, own Redis prefix, own spool."""
    migrate(database_url)
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        broker_key_prefix=broker_key_prefix,
        log_spool_dir=tmp_path / "api-spool",
        log_worker_url="http://127.0.0.1:9",
        log_api_token=SecretStr("test-token"),
        log_flush_interval=0.2,
        log_format="console",
        log_level="WARNING",
        shutdown_grace=2.0,
        step_retry_backoff_base=0.01,
        step_retry_backoff_max=0.05,
        http_step_allowed_hosts=("127.0.0.1",),
        gc_freeze=False,
        db_pool_min_size=2,
        db_pool_max_size=4,
    )


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The app with its lifespan running, and an httpx client talking to it in-process."""
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client, app
    assert services_of(app).logger.metrics.dropped_total() == 0


def services_of(app: FastAPI) -> Services:
    """The running app's services."""
    services: Services = app.state.services
    return services


async def wait_finished(client: httpx.AsyncClient, execution_id: str) -> dict[str, object]:
    """Poll an execution until it is finished (bounded)."""
    deadline = time.monotonic() + 30
    while True:
        response = await client.get(f"/api/v1/executions/{execution_id}")
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"execution still {body['status']}")
        await asyncio.sleep(0.05)
