"""Section 1: what ``log()`` costs the caller, and how long the event loop stalls meanwhile.

The caller logs at a steady rate on an asyncio loop while a sampler coroutine measures the
loop's lag (how late a 1 ms sleep wakes up). Lag samples are split by whether a broker publish
(the sender thread's flush) was in flight. Beside it, the "before" design: one awaited
INSERT + commit per record through the app's own SQLAlchemy pool (pool_size 5).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from execlog_api.gc_tuning import freeze_gc, unfreeze_gc
from execlog_bench.data import Shapes
from execlog_bench.db import reset_url
from execlog_bench.producer import FlushLog, delete_prefix, make_logger
from execlog_bench.stats import percentile, summary

INSERT_SQL = text(
    "INSERT INTO execution_logs (id, created_at, execution_id, workflow_id, node_id, component,"
    " level, message, payload, attempt, batch_id, schema_version, producer_service,"
    " producer_version, producer_host, producer_pid) VALUES (:id, now(), :execution_id,"
    " :workflow_id, :node_id, :component, :level, :message, CAST(:payload AS jsonb), :attempt,"
    " :batch_id, '1.0', 'execlog-api', '0.1.0', 'bench', 1)"
)


async def _lag_sampler(stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    interval = 0.001
    while not stop.is_set():
        expected = time.perf_counter() + interval
        await asyncio.sleep(interval)
        now = time.perf_counter()
        out.append((now, max(0.0, now - expected)))


def _during(
    intervals: list[tuple[float, float]], samples: list[tuple[float, float]]
) -> list[float]:
    """Lags of samples whose sleep window overlapped a publish."""
    starts = [s for s, _ in intervals]
    picked = []
    for t, lag in samples:
        window_start = t - 0.001 - lag
        i = bisect.bisect_right(starts, t) - 1
        while i >= 0 and intervals[i][1] >= window_start:
            if intervals[i][0] <= t:
                picked.append(lag)
                break
            i -= 1
    return picked


async def measure_log_calls(
    redis_url: str,
    *,
    calls: int,
    rate: float,
    buffer_size: int,
    flush_interval: float,
    pin: bool = False,
    publish_process: bool = True,
) -> dict[str, Any]:
    """log() durations and loop lag for ``calls`` calls at ``rate`` per second.

    ``publish_process``: the broker publish runs in a child process (LOG_PUBLISH_PROCESS, the
    API's default); False runs it in the logger's sender thread.

    ``pin``: the logger's threads on the last CPU, the event loop's thread on the others
    (Linux, 2+ CPUs), so the lag shows what logging costs the loop rather than how the
    machine's CPUs are shared with the logger's threads and Redis.
    """
    cpus = sorted(os.sched_getaffinity(0))
    pinned = pin and len(cpus) > 1
    prefix = f"execlog-bench-{uuid.uuid4().hex[:8]}:"
    flushes = FlushLog()
    spool = Path(tempfile.mkdtemp(prefix="execlog-bench-spool-"))
    logger = make_logger(
        redis_url,
        prefix,
        buffer_size=buffer_size,
        flush_interval=flush_interval,
        flushes=flushes,
        spool_dir=spool,
        publish_process=publish_process,
    )
    if pinned:
        os.sched_setaffinity(0, cpus[-1:])  # threads started now inherit this
    logger.start()
    if pinned:
        os.sched_setaffinity(0, cpus[:-1])
    shapes = Shapes()
    kwargs = [shapes.kwargs(i) for i in range(min(calls, 5000))]
    for kw in kwargs[:200]:
        logger.log(**kw)
    await logger.flush(timeout=30)
    with flushes.lock:
        flushes.intervals.clear()
        flushes.records.clear()
    durations: list[float] = []
    samples: list[tuple[float, float]] = []
    freeze_gc()  # as the API does at startup (GC_FREEZE)
    stop = asyncio.Event()
    sampler = asyncio.create_task(_lag_sampler(stop, samples))
    # The baseline is as long as the logging run: this VM's own timer jitter shows as rare
    # stalls of several ms that a short idle window would miss.
    await asyncio.sleep(calls / rate)
    idle_samples = len(samples)
    log = logger.log
    perf = time.perf_counter
    began = perf()
    i = 0
    while i < calls:
        target = int((perf() - began) * rate) + 1
        while i < min(target, calls):
            t0 = perf()
            log(**kwargs[i % len(kwargs)])
            durations.append(perf() - t0)
            i += 1
        await asyncio.sleep(0.0005)
    elapsed = perf() - began
    await logger.flush(timeout=60)
    stop.set()
    await sampler
    await logger.aclose(timeout=30)
    unfreeze_gc()
    os.sched_setaffinity(0, cpus)
    delete_prefix(redis_url, prefix)
    shutil.rmtree(spool, ignore_errors=True)
    with flushes.lock:
        intervals = sorted(flushes.intervals)
        batch_sizes = list(flushes.records)
    busy = samples[idle_samples:]
    during = _during(intervals, busy)
    idle_lags = [lag for _, lag in samples[:idle_samples]]
    idle_stalls = sum(1 for lag in idle_lags if lag > 0.001)
    during_stalls = sum(1 for lag in during if lag > 0.001)
    return {
        "calls": calls,
        "rate": rate,
        "achieved_rate": calls / elapsed,
        "buffer_size": buffer_size,
        "us_p50": percentile(durations, 50) * 1e6,
        "us_p99": percentile(durations, 99) * 1e6,
        "us_max": max(durations) * 1e6,
        "flushes": len(intervals),
        "records_per_flush_mean": (sum(batch_sizes) / len(batch_sizes)) if batch_sizes else 0,
        "publish_ms_p50": percentile([(e - s) * 1e3 for s, e in intervals], 50),
        "lag_idle_ms_p99": percentile(idle_lags, 99) * 1e3,
        "lag_idle_ms_max": max(idle_lags) * 1e3 if idle_lags else float("nan"),
        "idle_samples": len(idle_lags),
        "idle_stalls_over_1ms": idle_stalls,
        "idle_stalls_per_1000": 1000 * idle_stalls / len(idle_lags) if idle_lags else float("nan"),
        "lag_ms_p99": percentile([lag for _, lag in busy], 99) * 1e3,
        "lag_ms_max": max(lag for _, lag in busy) * 1e3 if busy else float("nan"),
        "lag_during_flush_samples": len(during),
        "lag_during_flush_ms_p50": percentile(during, 50) * 1e3,
        "lag_during_flush_ms_p99": percentile(during, 99) * 1e3,
        "lag_during_flush_ms_max": max(during) * 1e3 if during else float("nan"),
        "stalls_over_1ms": during_stalls,
        "stalls_per_1000": 1000 * during_stalls / len(during) if during else float("nan"),
        "pinned": pinned,
    }


async def measure_direct_insert(database_url: str, *, calls: int) -> dict[str, Any]:
    """The "before" design: each log() is an awaited INSERT + commit on a 5-connection pool."""
    await reset_url(database_url)
    engine = create_async_engine(
        "postgresql+asyncpg://" + database_url.split("://", 1)[1], pool_size=5, max_overflow=10
    )
    shapes = Shapes()
    durations: list[float] = []
    try:
        for i in range(calls + 20):
            kw = shapes.kwargs(i)
            params = {
                "id": uuid.uuid4(),
                "execution_id": kw["execution_id"],
                "workflow_id": kw["workflow_id"],
                "node_id": kw["node_id"],
                "component": kw["component"],
                "level": kw["level"].value,
                "message": kw["message"],
                "payload": '{"item": %d}' % i,
                "attempt": kw["attempt"],
                "batch_id": uuid.uuid4(),
            }
            t0 = time.perf_counter()
            async with engine.connect() as conn:
                await conn.execute(INSERT_SQL, params)
                await conn.commit()
            if i >= 20:
                durations.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return {
        "calls": calls,
        "us_p50": percentile(durations, 50) * 1e6,
        "us_p99": percentile(durations, 99) * 1e6,
        "us_max": max(durations) * 1e6,
    }


async def run_section(
    redis_url: str,
    database_url: str,
    *,
    calls: int,
    rate: float,
    direct_calls: int,
    runs: int,
    buffer_size: int = 50,
) -> dict[str, Any]:
    """Median over ``runs`` of the queued log() and of the direct INSERT, same run.

    The queued runs take turns: as the API runs it (publishing from a child process), the
    same with the event loop on a CPU of its own (``pin``), and publishing from the logger's
    sender thread instead (LOG_PUBLISH_PROCESS=false), so all three show in the same run.
    """
    variants = {
        "queued": (False, True),
        "queued_pinned": (True, True),
        "queued_thread": (False, False),
    }
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (pin, publish_process) in variants.items():
            measured[name].append(
                await measure_log_calls(
                    redis_url,
                    calls=calls,
                    rate=rate,
                    buffer_size=buffer_size,
                    flush_interval=2.0,
                    pin=pin,
                    publish_process=publish_process,
                )
            )
    direct = [await measure_direct_insert(database_url, calls=direct_calls) for _ in range(runs)]
    keys_q = [k for k, v in measured["queued"][0].items() if isinstance(v, int | float)]
    out: dict[str, Any] = {
        **{
            name: {k: summary([r[k] for r in rows]) for k in keys_q}
            for name, rows in measured.items()
        },
        "direct_insert": {k: summary([r[k] for r in direct]) for k in direct[0]},
        "settings": {
            "rate": rate,
            "calls": calls,
            "buffer_size": buffer_size,
            "switch_interval": sys.getswitchinterval(),
        },
    }
    q50 = out["queued"]["us_p50"]["median"]
    d50 = out["direct_insert"]["us_p50"]["median"]
    out["p50_ratio_direct_over_queued"] = d50 / q50 if q50 else None
    return out
