"""Fixtures of the log-worker tests: settings on a throwaway database and Redis prefix."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from execlog_db.url import database_name
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire
from execlog_schema.models import LogBatch
from execlog_worker.db import create_pool, migrate
from execlog_worker.settings import Settings


API_TOKEN = "test-token-" + "x" * 16

BatchFactory = Callable[..., LogBatch]


def pythonpath() -> str:
    """PYTHONPATH for subprocesses: this interpreter's sys.path, made absolute."""
    return os.pathsep.join(os.path.abspath(p) for p in sys.path if p)


@pytest.fixture()
def auth() -> dict[str, str]:
    """Headers that authenticate to the test API."""
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture()
def pythonpath_env() -> dict[str, str]:
    """Environment for a subprocess that must import what this test imports."""
    return {**os.environ, "PYTHONPATH": pythonpath()}


@pytest.fixture()
def settings(database_url: str, redis_url: str, broker_key_prefix: str) -> Settings:
    """Settings on this test's own database and Redis key prefix, fast retries."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        broker_key_prefix=broker_key_prefix,
        log_api_token=SecretStr(API_TOKEN),
        db_pool_min_size=1,
        db_pool_max_size=4,
        db_connect_timeout=2.0,
        retry_backoff_base=0.2,
        retry_backoff_max=1.0,
        task_max_retries=3,
        stream_poll_interval=0.05,
        log_format="console",
    )


@pytest.fixture()
async def migrated(settings: Settings) -> Settings:
    """The settings, with the migrations applied to the test database."""
    await migrate(settings)
    return settings


@pytest.fixture()
async def pool(migrated: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the migrated test database."""
    p = await create_pool(migrated)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture()
def make_batch() -> BatchFactory:
    """``make_batch(n, execution_id=..., created_at=..., **record_fields)`` -> LogBatch."""

    def factory(
        n: int = 3,
        *,
        execution_id: UUID | None = None,
        created_at: datetime | None = None,
        **fields: Any,
    ) -> LogBatch:
        execution = execution_id or uuid4()
        fields.setdefault("component", "runner")
        fields.setdefault("level", "INFO")
        records = [
            new_record(
                execution_id=execution,
                message=fields.pop("message", None) or f"message {i}",
                created_at=created_at,
                **fields,
            )
            for i in range(n)
        ]
        return new_batch(records, make_producer("tests", "0.0.0"))

    return factory


@pytest.fixture()
def wire() -> Callable[[LogBatch], dict[str, Any]]:
    """LogBatch -> the task argument (a JSON-ready dict)."""
    return batch_to_wire


class TcpProxy:
    """A TCP proxy in its own thread and event loop, that a test can cut and restore.

    ``cut()`` closes every open connection and refuses new ones (a database outage);
    ``blackhole()`` accepts and holds connections without forwarding (a hung network).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "up"
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="tcp-proxy")
        self._server: asyncio.Server | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            writer.close()
            return
        self._writers.add(writer)
        if self.mode == "blackhole":
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def start(self) -> TcpProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def cut(self) -> None:
        self.mode = "down"
        self.loop.call_soon_threadsafe(self._close_all)

    def blackhole(self) -> None:
        self.mode = "blackhole"
        self.loop.call_soon_threadsafe(self._close_all)

    def restore(self) -> None:
        self.mode = "up"

    def stop(self) -> None:
        def shutdown() -> None:
            self._close_all()
            if self._server is not None:
                self._server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)

    def url_for(self, database_url: str) -> str:
        """``database_url`` rerouted through this proxy."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)


@pytest.fixture()
def pg_proxy(database_url: str) -> Iterator[TcpProxy]:
    """A cuttable TCP proxy in front of the test database's server."""
    url = make_url(database_url)
    assert database_name(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture()
def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
