"""A running execlog system for the end-to-end sections (execlog_stack), plus the producer
subprocess and plain COPY of the same rows, the ceiling every end-to-end figure is put against."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson

from execlog_bench import data
from execlog_bench.db import migrate_logs_db, reset_url
from execlog_db.url import to_asyncpg_dsn
from execlog_stack.process import ManagedProcess, python_env
from execlog_stack.stack import Stack, StackConfig


@dataclass(frozen=True)
class WorkerConfig:
    """How the log-worker runs: pool processes and environment (its settings)."""

    concurrency: int = 2
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProducerConfig:
    """How the ExecutionLogger batches: size trigger, per-flush maximum, age trigger."""

    buffer_size: int = 50
    max_batch_records: int = 500
    flush_interval: float = 2.0


def start_stack(workdir: Path, database_url: str, redis_url: str) -> Stack:
    """Redis + PostgreSQL (the shared ones), both databases migrated, no worker, no API yet."""
    stack = Stack(
        StackConfig(
            workdir=workdir,
            database_url=database_url,
            redis_url=redis_url,
            workers=0,
            start_api=False,
            ready_timeout=120.0,
            drain_timeout=60.0,
            worker_stop_grace=30.0,
        )
    )
    stack.start()
    return stack


async def ensure_ready(stack: Stack) -> None:
    """Make sure today's partitions exist in the stack's logs database."""
    await migrate_logs_db(stack.logs_database_url)


def run_producer(
    stack: Stack,
    producer: ProducerConfig,
    records: int,
    *,
    rate: float | None = None,
    offset: int = 0,
    single_execution: str | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Log ``records`` in a separate process (like an API process would) and wait for it."""
    config = {
        "redis_url": stack.redis_url,
        "key_prefix": stack.key_prefix,
        "buffer_size": producer.buffer_size,
        "max_batch_records": producer.max_batch_records,
        "flush_interval": producer.flush_interval,
        "records": records,
        "rate": rate,
        "offset": offset,
        "single_execution": single_execution,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "execlog_bench.producer", orjson.dumps(config).decode()],
        env=python_env({}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"producer failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return result


def start_producer(
    stack: Stack,
    producer: ProducerConfig,
    records: int,
    *,
    rate: float | None = None,
    single_execution: str | None = None,
) -> subprocess.Popen[str]:
    """Like :func:`run_producer`, but returns at once (read its stdout when it exits)."""
    config = {
        "redis_url": stack.redis_url,
        "key_prefix": stack.key_prefix,
        "buffer_size": producer.buffer_size,
        "max_batch_records": producer.max_batch_records,
        "flush_interval": producer.flush_interval,
        "records": records,
        "rate": rate,
        "single_execution": single_execution,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "execlog_bench.producer", orjson.dumps(config).decode()],
        env=python_env({}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def producer_result(proc: subprocess.Popen[str], timeout: float = 600.0) -> dict[str, Any]:
    """Wait for a producer started by :func:`start_producer`; its timings."""
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"producer failed ({proc.returncode}): {err[-2000:]}")
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    return result


def start_worker(stack: Stack, worker: WorkerConfig, *, wait: bool = True) -> ManagedProcess:
    """One Celery worker (``concurrency`` pool processes) with ``env`` on top of the stack's."""
    return stack.add_worker(concurrency=worker.concurrency, env=dict(worker.env), wait=wait)


def worker_cpu(proc: ManagedProcess) -> dict[str, float]:
    """CPU seconds used so far by a worker's main process and by its pool processes."""
    import psutil

    out = {"main": 0.0, "pool": 0.0}
    try:
        main = psutil.Process(proc.pid)
        t = main.cpu_times()
        out["main"] = t.user + t.system
        for child in main.children(recursive=True):
            try:
                c = child.cpu_times()
                out["pool"] += c.user + c.system
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    return out


def stop_worker(stack: Stack, proc: ManagedProcess) -> None:
    """Stop a worker (warm shutdown) and forget it."""
    proc.stop()
    if proc in stack.workers:
        stack.workers.remove(proc)


async def plain_copy_rate(url: str, rows: int, chunk: int = 5000) -> float:
    """Rows/s of plain binary COPY of ``rows`` log-shaped rows into an emptied execution_logs."""
    from execlog_worker.ingest.writer import COLUMNS, batch_rows

    recs = data.records(rows)
    all_rows, _ = batch_rows(data.batches(recs, 500))
    await reset_url(url)
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    try:
        started = time.perf_counter()
        for part in data.chunks(all_rows, chunk):
            await conn.copy_records_to_table("execution_logs", records=part, columns=list(COLUMNS))
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    await reset_url(url)
    return rows / elapsed


def temp_workdir() -> Path:
    """A fresh directory for the stack's logs, spool and state."""
    return Path(tempfile.mkdtemp(prefix="execlog-bench-"))


def purge_queue(stack: Stack) -> None:
    """Drop whatever a failed run left in this stack's queue (its own key prefix only)."""
    client = stack.redis_client()
    try:
        for pattern in (f"{stack.key_prefix}logs*", f"{stack.key_prefix}unacked*"):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


async def sleep_until_idle(stack: Stack, timeout: float = 60.0) -> bool:
    """Wait until the stack's queue is empty (nothing waiting or unacked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.queue_depth() == 0:
            return True
        await asyncio.sleep(0.1)
    return False
