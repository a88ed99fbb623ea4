"""Section 2: sustained end-to-end throughput, log() -> committed row, against plain COPY.

Two ways of loading the system, each against plain COPY of the same number of rows measured
in the same run (interleaved, so both see the same machine load):

- ``pipeline``: the worker runs; a producer process logs N records as fast as it can; the
  figure is N / (last row committed - first log() call).
- ``drain``: a producer fills the queue first (workers stopped); then a worker starts and the
  figure is the commit rate from 5 % to 100 % of the rows (a queue full of small batches).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from execlog_bench.db import reset_url, wait_for_rows
from execlog_bench.pipeline import (
    ProducerConfig,
    WorkerConfig,
    plain_copy_rate,
    producer_result,
    purge_queue,
    run_producer,
    sleep_until_idle,
    start_producer,
    start_worker,
    stop_worker,
    worker_cpu,
)
from execlog_bench.stats import summary
from execlog_stack.stack import Stack


@dataclass(frozen=True)
class Scenario:
    """One end-to-end configuration."""

    key: str
    label: str
    producer: ProducerConfig
    worker: WorkerConfig
    mode: str = "pipeline"
    group: str = "main"
    notes: dict[str, Any] = field(default_factory=dict)


async def _pipeline_run(stack: Stack, sc: Scenario, records: int) -> dict[str, Any]:
    url = stack.logs_database_url
    await reset_url(url)
    worker = start_worker(stack, sc.worker)
    try:
        await asyncio.sleep(0.5)
        cpu0 = worker_cpu(worker)
        proc = start_producer(stack, sc.producer, records)
        progress = await wait_for_rows(url, records, timeout=600.0)
        cpu1 = worker_cpu(worker)
        prod = producer_result(proc)
    finally:
        stop_worker(stack, worker)
    if progress.reached_at is None:
        return {
            "error": f"only {progress.final_count}/{records} rows",
            "rows": progress.final_count,
        }
    elapsed = progress.reached_at - prod["t_first"]
    return {
        "rows_per_s": records / elapsed,
        "seconds": elapsed,
        "producer_rows_per_s": records / max(1e-9, prod["t_flushed"] - prod["t_first"]),
        "dropped": prod["dropped"],
        "spooled": prod["spooled"],
        **_cpu(cpu0, cpu1, records, prod["cpu_seconds"]),
        "trace": _trace(progress.trace, prod["t_first"]),
    }


async def _drain_run(stack: Stack, sc: Scenario, records: int) -> dict[str, Any]:
    url = stack.logs_database_url
    await reset_url(url)
    prod = await asyncio.to_thread(run_producer, stack, sc.producer, records)
    queued = stack.queue_depth()
    worker = start_worker(stack, sc.worker, wait=False)
    samples: list[tuple[float, dict[str, float]]] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), await asyncio.to_thread(worker_cpu, worker)))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        progress = await wait_for_rows(url, records, timeout=600.0)
        cpu1 = worker_cpu(worker)
        done.set()
        await sampler
    finally:
        stop_worker(stack, worker)
    if progress.reached_at is None:
        return {
            "error": f"only {progress.final_count}/{records} rows",
            "rows": progress.final_count,
        }
    t_a = progress.first_time_at_least(max(1, records // 20))
    rows_a = next(n for t, n in progress.trace if t == t_a) if t_a is not None else 0
    if t_a is None or progress.reached_at <= t_a:
        return {"error": "drain too short to measure"}
    return {
        "rows_per_s": (records - rows_a) / (progress.reached_at - t_a),
        "seconds": progress.reached_at - t_a,
        "messages_queued": queued,
        "producer_rows_per_s": records / max(1e-9, prod["t_flushed"] - prod["t_first"]),
        "dropped": prod["dropped"],
        "spooled": prod["spooled"],
        **_cpu(
            _cpu_at(samples, t_a),
            cpu1,
            records - rows_a,
            prod["cpu_seconds"] * (records - rows_a) / records,
        ),
        "trace": _trace(progress.trace, t_a),
    }


def _cpu(
    before: dict[str, float], after: dict[str, float], records: int, producer: float
) -> dict[str, float]:
    return {
        "cpu_us_per_record_producer": producer / records * 1e6,
        "cpu_us_per_record_worker_main": (after["main"] - before["main"]) / records * 1e6,
        "cpu_us_per_record_worker_pool": (after["pool"] - before["pool"]) / records * 1e6,
    }


def _cpu_at(samples: list[tuple[float, dict[str, float]]], t: float) -> dict[str, float]:
    before = [cpu for ts, cpu in samples if ts <= t]
    return before[-1] if before else {"main": 0.0, "pool": 0.0}


def _trace(trace: list[tuple[float, int]], t0: float, points: int = 200) -> list[list[float]]:
    step = max(1, len(trace) // points)
    return [[round(t - t0, 4), n] for t, n in trace[::step]]


async def run_scenario(stack: Stack, sc: Scenario, *, records: int, runs: int) -> dict[str, Any]:
    """``runs`` runs of one scenario, each beside a plain COPY of the same rows."""
    results = []
    copies = []
    for _ in range(runs):
        if not await sleep_until_idle(stack, timeout=5.0):
            purge_queue(stack)
        copies.append(await plain_copy_rate(stack.logs_database_url, records))
        run = _drain_run if sc.mode == "drain" else _pipeline_run
        results.append(await run(stack, sc, records))
    good = [r for r in results if "rows_per_s" in r]
    ratios = [
        r["rows_per_s"] / c for r, c in zip(results, copies, strict=True) if "rows_per_s" in r
    ]
    return {
        "key": sc.key,
        "label": sc.label,
        "group": sc.group,
        "mode": sc.mode,
        "records": records,
        "producer": asdict(sc.producer),
        "worker": {"concurrency": sc.worker.concurrency, "env": dict(sc.worker.env)},
        "rows_per_s": summary([r["rows_per_s"] for r in good]),
        "plain_copy_rows_per_s": summary(copies),
        "ratio_vs_plain_copy": summary(ratios),
        "producer_rows_per_s": summary([r["producer_rows_per_s"] for r in good]),
        "cpu_us_per_record": {
            part: summary([r[f"cpu_us_per_record_{part}"] for r in good])
            for part in ("producer", "worker_main", "worker_pool")
        },
        "errors": [r["error"] for r in results if "error" in r],
        "dropped": sum(r.get("dropped", 0) for r in results),
        "spooled": sum(r.get("spooled", 0) for r in results),
        "trace": good[0]["trace"] if good else [],
        "notes": sc.notes,
        "finished_at": time.time(),
    }


async def run_section(
    stack: Stack, scenarios: list[Scenario], *, records: int, runs: int
) -> dict[str, Any]:
    """Every scenario in turn."""
    out = []
    for sc in scenarios:
        out.append(await run_scenario(stack, sc, records=records, runs=runs))
    return {"records": records, "runs": runs, "scenarios": out}
