"""Section 3: latency from log() to the row being visible to a reader, at a steady rate.

All records of the run belong to one execution, so a poller can follow commits cheaply
through the (execution_id, txid, seq) index: every 5 ms it reads the rows of transactions at
or above the previous snapshot's xmin (nothing committed later can have a smaller txid).
A row's latency is the wall time at which the poller first saw it minus its ``created_at``
(set by log() on the same clock).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_bench.db import reset_url
from execlog_bench.pipeline import (
    ProducerConfig,
    WorkerConfig,
    producer_result,
    sleep_until_idle,
    start_producer,
    start_worker,
    stop_worker,
)
from execlog_bench.stats import percentile, summary
from execlog_db.url import to_asyncpg_dsn
from execlog_stack.stack import Stack

POLL_SQL = (
    "SELECT id, created_at FROM execution_logs WHERE execution_id = $1 AND txid >= $2::text::xid8"
)
XMIN_SQL = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"


async def _poll(url: str, execution_id: uuid.UUID, target: int, timeout: float) -> list[float]:
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    seen: set[uuid.UUID] = set()
    latencies: list[float] = []
    low = "0"
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < target and time.monotonic() < deadline:
            xmin = await conn.fetchval(XMIN_SQL)
            rows = await conn.fetch(POLL_SQL, execution_id, low)
            now = time.time()
            for row in rows:
                rid = row["id"]
                if rid not in seen:
                    seen.add(rid)
                    latencies.append(now - row["created_at"].timestamp())
            low = xmin
            await asyncio.sleep(0.005)
    finally:
        await conn.close()
    return latencies


async def measure(
    stack: Stack,
    producer: ProducerConfig,
    worker: WorkerConfig,
    *,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """One paced run; latency percentiles in milliseconds."""
    url = stack.logs_database_url
    await sleep_until_idle(stack)
    await reset_url(url)
    records = max(1, int(rate * seconds))
    execution_id = uuid.uuid4()
    proc_worker = start_worker(stack, worker)
    try:
        await asyncio.sleep(0.5)
        poller = asyncio.create_task(_poll(url, execution_id, records, seconds * 3 + 60))
        proc = start_producer(
            stack, producer, records, rate=rate, single_execution=str(execution_id)
        )
        latencies = await poller
        await asyncio.to_thread(producer_result, proc)
    finally:
        stop_worker(stack, proc_worker)
    return {
        "rate": rate,
        "records": records,
        "seen": len(latencies),
        "ms_p50": percentile(latencies, 50) * 1e3,
        "ms_p99": percentile(latencies, 99) * 1e3,
        "ms_max": max(latencies) * 1e3 if latencies else float("nan"),
    }


async def run_section(
    stack: Stack,
    producer: ProducerConfig,
    worker: WorkerConfig,
    *,
    rates: list[tuple[str, float]],
    seconds: float,
    runs: int,
) -> dict[str, Any]:
    """Median over ``runs`` per rate."""
    points = []
    for label, rate in rates:
        runs_out = [
            await measure(stack, producer, worker, rate=rate, seconds=seconds) for _ in range(runs)
        ]
        points.append(
            {
                "label": label,
                "rate": rate,
                "records": runs_out[0]["records"],
                "ms_p50": summary([r["ms_p50"] for r in runs_out]),
                "ms_p99": summary([r["ms_p99"] for r in runs_out]),
                "ms_max": summary([r["ms_max"] for r in runs_out]),
                "complete": all(r["seen"] == r["records"] for r in runs_out),
            }
        )
    return {
        "producer": {
            "buffer_size": producer.buffer_size,
            "flush_interval": producer.flush_interval,
        },
        "worker": {"concurrency": worker.concurrency, "env": dict(worker.env)},
        "seconds": seconds,
        "points": points,
        "target_ms": (producer.flush_interval + 1.0) * 1e3,
    }
