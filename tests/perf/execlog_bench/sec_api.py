"""Section 4: the API under load, starting executions, with each way of logging.

Closed loop: ``concurrency`` clients POST /api/v1/executions back to back for ``seconds``;
each execution runs ``steps`` echo steps in the background (about 3 log lines per step plus
start/finish), all on the API's own event loop and database pool (DB_POOL_MIN_SIZE and
DB_POOL_MAX_SIZE both fixed small, short pool timeout, so pool exhaustion shows as waits or
errors).

The API reaches PostgreSQL through a :class:`~execlog_stack.proxy.TcpProxy` that adds
``db_latency`` each way (a database one network hop away, as in any real deployment; on
loopback a commit takes well under a millisecond and no pool ever runs dry).

Modes (API setting LOG_SINK):

- ``celery``: the ExecutionLogger through the queue, the log-worker on its own host (here:
  not running during the load, so it takes none of these two cores; the queue is drained
  after each mode and every record is counted);
- ``celery+worker``: the same with the log-worker running on these same two cores;
- ``off``: records built, then discarded (the cost of the app alone);
- ``direct``: the "before" design, one INSERT + commit per record on the API's own pool.

Pool pressure comes from the API's own ``/metrics``: every connection checkout's wait
(``execlog_api_db_pool_wait_seconds``) and every pool timeout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from execlog_bench.pipeline import WorkerConfig, sleep_until_idle, start_worker, stop_worker
from execlog_bench.stats import percentile, summary
from execlog_stack.proxy import TcpProxy
from execlog_stack.stack import Stack

MODES = ("celery+worker", "celery", "off", "direct")


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


async def pool_counters(base_url: str) -> dict[str, float]:
    """The API's pool-wait histogram and timeout counter, from its /metrics."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as c:
        text = (await c.get("/metrics")).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("execlog_api_db_pool_"):
            for sample in family.samples:
                le = sample.labels.get("le")
                out[f"{sample.name}:{le}" if le else sample.name] = sample.value
    return out


def pool_pressure(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Checkouts, mean wait, share that waited over 10 ms, and timeouts between two scrapes."""

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    count = delta("execlog_api_db_pool_wait_seconds_count")
    fast = delta("execlog_api_db_pool_wait_seconds_bucket:0.01")
    return {
        "checkouts": count,
        "wait_ms_mean": (
            delta("execlog_api_db_pool_wait_seconds_sum") / count * 1e3 if count else 0.0
        ),
        "waited_over_10ms": (count - fast) / count if count else 0.0,
        "timeouts": delta("execlog_api_db_pool_timeouts_total"),
    }


async def run_mode(
    stack: Stack,
    mode: str,
    *,
    database_url: str,
    pool_size: int,
    concurrency: int,
    seconds: float,
    steps: int,
    runs: int,
    buffer_size: int,
) -> dict[str, Any]:
    """Start the API with LOG_SINK=``mode``, warm up, then ``runs`` load runs."""
    env = {
        "LOG_SINK": mode.split("+")[0],
        "LOG_BUFFER_SIZE": str(buffer_size),
        "DATABASE_URL": database_url,
        "DB_POOL_MIN_SIZE": str(pool_size),
        "DB_POOL_MAX_SIZE": str(pool_size),
        "DB_POOL_TIMEOUT": "10",
        "LOG_LEVEL": "WARNING",
    }
    api = stack.start_api(env=env)
    try:
        await _load(stack.api_url, concurrency=concurrency, seconds=min(2.0, seconds), steps=steps)
        await asyncio.sleep(1.0)
        results = []
        for _ in range(runs):
            before = await pool_counters(stack.api_url)
            result = await _load(
                stack.api_url, concurrency=concurrency, seconds=seconds, steps=steps
            )
            result["pool"] = pool_pressure(before, await pool_counters(stack.api_url))
            results.append(result)
            await asyncio.sleep(1.0)
    finally:
        api.stop()
    return {
        "mode": mode,
        "ok_per_s": summary([r["ok_per_s"] for r in results]),
        "ms_p50": summary([r["ms_p50"] for r in results]),
        "ms_p99": summary([r["ms_p99"] for r in results]),
        "pool_wait_ms_mean": summary([r["pool"]["wait_ms_mean"] for r in results]),
        "pool_waited_over_10ms": summary([r["pool"]["waited_over_10ms"] for r in results]),
        "pool_timeouts": sum(r["pool"]["timeouts"] for r in results),
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
    db_latency: float = 0.001,
) -> dict[str, Any]:
    """Every mode under the same load, the API's database ``db_latency`` away (each way)."""
    url = stack.api_spec().env["DATABASE_URL"]
    target = urlsplit(url)
    modes = []
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432, latency=db_latency) as proxy:
        for mode in MODES:
            proc = start_worker(stack, worker) if mode == "celery+worker" else None
            try:
                modes.append(
                    await run_mode(
                        stack,
                        mode,
                        database_url=proxy.url_for(url),
                        pool_size=pool_size,
                        concurrency=concurrency,
                        seconds=seconds,
                        steps=steps,
                        runs=runs,
                        buffer_size=buffer_size,
                    )
                )
            finally:
                if proc is not None:
                    stop_worker(stack, proc)
        drain = start_worker(stack, worker)
        try:
            drained = await sleep_until_idle(stack, timeout=300.0)
        finally:
            stop_worker(stack, drain)
    by = {m["mode"]: m for m in modes}
    off99 = by["off"]["ms_p99"]["median"]

    def ratio(mode: str) -> float | None:
        return by[mode]["ms_p99"]["median"] / off99 if off99 else None

    return {
        "pool_size": pool_size,
        "concurrency": concurrency,
        "seconds": seconds,
        "steps_per_execution": steps,
        "db_latency_ms": db_latency * 1e3,
        "queue_drained_after": drained,
        "modes": modes,
        "p99_ratio_celery_over_off": ratio("celery"),
        "p99_ratio_celery_worker_over_off": ratio("celery+worker"),
        "p99_ratio_direct_over_off": ratio("direct"),
    }
