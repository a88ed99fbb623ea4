"""Fixtures and helpers of the log-worker tests: throwaway database and Redis prefix, a cuttable
database proxy, worker subprocesses, row counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
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
from execlog_stack import ports
from execlog_stack.proxy import TcpProxy
from execlog_stack.waiting import async_wait_for
from execlog_worker.ingest.pool import create_pool
from execlog_worker.ops.schema import migrate
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
        task_retry_backoff_base=0.2,
        task_retry_backoff_max=1.0,
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


@pytest.fixture()
def pg_proxy(database_url: str) -> Iterator[TcpProxy]:
    """A cuttable TCP proxy in front of the test database's server (``url_for`` reroutes)."""
    url = make_url(database_url)
    assert database_name(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture()
def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    return ports.free_port()


async def fetch(dsn: str, sql: str) -> list[Any]:
    """The rows of ``sql`` on a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def count_rows(conn: asyncpg.Connection, table: str = "execution_logs") -> int:
    """How many rows ``table`` holds."""
    return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def wait_rows(
    conn: asyncpg.Connection, n: int, *, timeout: float, what: str, table: str = "execution_logs"
) -> None:
    """Poll until ``table`` holds exactly ``n`` rows (WaitTimeout after ``timeout`` seconds)."""

    async def reached() -> bool:
        return await count_rows(conn, table) == n

    await async_wait_for(reached, timeout=timeout, what=what)


def spawn_worker(env: Mapping[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m execlog_worker worker ARGS`` in a process group of its own, output to a file."""
    return subprocess.Popen(
        [sys.executable, "-m", "execlog_worker", "worker", *args],
        env=dict(env),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process group of ``proc`` if it runs; SIGKILL it after ``grace`` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
