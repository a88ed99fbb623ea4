"""Section 4: the API under load, starting executions, with each way of logging.

Closed loop: ``concurrency`` clients POST /api/v1/executions back to back for ``seconds``;
each execution runs ``steps`` echo steps in the background (about 3 log lines per step plus
start/finish), all on the API's own event loop and database pool (DB_POOL__POOL_SIZE fixed
small, no overflow, short pool timeout, so pool exhaustion shows as waits or errors).

Modes (API setting LOG_SINK): ``celery`` (the ExecutionLogger through the queue), ``off``
(records built, then discarded: the cost of the app alone), ``direct`` (the "before" design:
one INSERT + commit per record on the API's own pool).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from execlog_bench.pipeline import WorkerConfig, start_worker, stop_worker
from execlog_bench.stats import percentile, summary
from execlog_stack.stack import Stack


def _body(steps: int, i: int) -> dict[str, Any]:
    return {
        "name": f"bench-{i}",
        "steps": [
            {
                "kind": "echo",
                "message": f"echo {k} of request {i}",
                "data": {"request": i, "step": k, "tags": ["bench"]},
            }
            for k in range(steps)
        ],
    }


async def _load(base_url: str, *, concurrency: int, seconds: float, steps: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counter = 0
    stop_at = time.monotonic() + seconds

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.monotonic() < stop_at:
            counter += 1
            body = _body(steps, counter)
            t0 = time.perf_counter()
            try:
                resp = await c.post("/api/v1/executions", json=body)
                key = str(resp.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - t0)
            statuses[key] = statuses.get(key, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as c:
        began = time.monotonic()
        await asyncio.gather(*(client(c) for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    ok = statuses.get("202", 0)
    return {
        "requests": len(latencies),
        "ok_per_s": ok / elapsed,
        "ms_p50": percentile(latencies, 50) * 1e3,
        "ms_p99": percentile(latencies, 99) * 1e3,
        "errors": len(latencies) - ok,
        "statuses": statuses,
    }


async def run_mode(
    stack: Stack,
    mode: str,
    *,
    pool_size: int,
    concurrency: int,
    seconds: float,
    steps: int,
    runs: int,
    buffer_size: int,
) -> dict[str, Any]:
    """Start the API with LOG_SINK=``mode``, warm up, then ``runs`` load runs."""
    env = {
        "LOG_SINK": mode,
        "LOG_BUFFER_SIZE": str(buffer_size),
        "DB_POOL__POOL_SIZE": str(pool_size),
        "DB_POOL__MAX_OVERFLOW": "0",
        "DB_POOL__POOL_TIMEOUT": "10",
        "LOG_LEVEL": "WARNING",
    }
    api = stack.start_api(env=env)
    try:
        await _load(stack.api_url, concurrency=concurrency, seconds=min(2.0, seconds), steps=steps)
        await asyncio.sleep(1.0)
        results = []
        for _ in range(runs):
            results.append(
                await _load(stack.api_url, concurrency=concurrency, seconds=seconds, steps=steps)
            )
            await asyncio.sleep(1.0)
    finally:
        api.stop()
    return {
        "mode": mode,
        "ok_per_s": summary([r["ok_per_s"] for r in results]),
        "ms_p50": summary([r["ms_p50"] for r in results]),
        "ms_p99": summary([r["ms_p99"] for r in results]),
        "errors": sum(r["errors"] for r in results),
        "requests": sum(r["requests"] for r in results),
        "statuses": [r["statuses"] for r in results],
    }


async def run_section(
    stack: Stack,
    worker: WorkerConfig,
    *,
    pool_size: int,
    concurrency: int,
    seconds: float,
    steps: int,
    runs: int,
    buffer_size: int = 50,
) -> dict[str, Any]:
    """celery, off and direct, same load; the worker runs throughout."""
    proc = start_worker(stack, worker)
    modes = []
    try:
        for mode in ("celery", "off", "direct"):
            modes.append(
                await run_mode(
                    stack,
                    mode,
                    pool_size=pool_size,
                    concurrency=concurrency,
                    seconds=seconds,
                    steps=steps,
                    runs=runs,
                    buffer_size=buffer_size,
                )
            )
    finally:
        stop_worker(stack, proc)
    by = {m["mode"]: m for m in modes}
    off99 = by["off"]["ms_p99"]["median"]
    return {
        "pool_size": pool_size,
        "concurrency": concurrency,
        "seconds": seconds,
        "steps_per_execution": steps,
        "modes": modes,
        "p99_ratio_celery_over_off": by["celery"]["ms_p99"]["median"] / off99 if off99 else None,
        "p99_ratio_direct_over_off": by["direct"]["ms_p99"]["median"] / off99 if off99 else None,
    }
