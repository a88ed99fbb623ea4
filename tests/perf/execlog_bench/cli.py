"""Command line of the harness: ``python -m execlog_bench [--quick] [--sections ...]``."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from execlog_bench import meta, report, scenarios
from execlog_bench.db import ThrowawayDb
from execlog_bench.pipeline import WorkerConfig, ensure_ready, start_stack, temp_workdir
from execlog_bench.report import SECTIONS

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Sizes:
    """How much each section does (``--quick`` shrinks everything)."""

    runs: int
    e2e_records: int
    caller_calls: int
    caller_rate: float
    direct_calls: int
    path_rows: int
    slow_rows: int
    latency_seconds: float
    api_seconds: float
    api_concurrency: int
    workers: tuple[int, ...]
    ablation: bool
    drain: bool


FULL = Sizes(
    runs=3,
    e2e_records=200_000,
    caller_calls=20_000,
    caller_rate=5_000,
    direct_calls=2_000,
    path_rows=200_000,
    slow_rows=20_000,
    latency_seconds=10.0,
    api_seconds=10.0,
    api_concurrency=16,
    workers=(1, 2),
    ablation=True,
    drain=True,
)
QUICK = Sizes(
    runs=1,
    e2e_records=5_000,
    caller_calls=2_000,
    caller_rate=5_000,
    direct_calls=200,
    path_rows=5_000,
    slow_rows=500,
    latency_seconds=2.0,
    api_seconds=2.0,
    api_concurrency=8,
    workers=(2,),
    ablation=False,
    drain=False,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options (every size can be overridden)."""
    p = argparse.ArgumentParser(prog="python -m execlog_bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 1 run each")
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--runs", type=int, help="runs per figure (median, min, max)")
    p.add_argument("--records", type=int, help="records per end-to-end run")
    p.add_argument("--path-rows", type=int, help="rows per write-path run")
    p.add_argument("--workers", help="worker process counts, e.g. 1,2")
    p.add_argument("--no-ablation", action="store_true", help="skip the ablation scenarios")
    p.add_argument("--no-drain", action="store_true", help="skip the drain scenarios")
    p.add_argument("--scenarios", help="only these end-to-end scenario keys (comma-separated)")
    p.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval() in the harness process, seconds (CPython's default: 0.005)",
    )
    p.add_argument(
        "--api-db-latency-ms",
        type=float,
        default=1.0,
        help="delay each way between the API and its database in the api section (default 1)",
    )
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--out", type=Path, default=Path("dist/bench/execlog-bench.json"))
    p.add_argument("--plots", type=Path, help="write PNG plots into this directory")
    p.add_argument("--markdown", type=Path, help="write the tables as Markdown to this file")
    p.add_argument("--keep-workdir", action="store_true", help="keep the stack's logs")
    return p.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    """Preset, then overrides."""
    base = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    if args.runs:
        changes["runs"] = args.runs
    if args.records:
        changes["e2e_records"] = args.records
    if args.path_rows:
        changes["path_rows"] = args.path_rows
    if args.workers:
        changes["workers"] = tuple(int(w) for w in args.workers.split(","))
    if args.no_ablation:
        changes["ablation"] = False
    if args.no_drain:
        changes["drain"] = False
    return Sizes(**{**base.__dict__, **changes})


async def _guard(
    name: str, console: Console, fn: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    console.print(
        f"[dim]{time.strftime('%H:%M:%S')} section {name} (load {meta.load_average()})…[/]"
    )
    began = time.monotonic()
    try:
        out = await fn()
    except Exception as exc:
        console.print(f"[red]section {name} failed: {exc}[/]")
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    out["wall_seconds"] = round(time.monotonic() - began, 1)
    return out


async def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Run the chosen sections; the report as a dict."""
    from execlog_bench import sec_api, sec_caller, sec_codec, sec_e2e, sec_latency, sec_paths

    sizes = sizes_from(args)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {
        "meta": {
            "machine": meta.machine(),
            "load_before": meta.load_average(),
            "versions": meta.versions(),
            "postgres": await meta.postgres_info(args.database_url),
            "redis": meta.redis_info(args.redis_url),
            "settings": {**sizes.__dict__, "quick": args.quick, "sections": chosen},
            "tuned_worker_env": scenarios.TUNED_WORKER_ENV,
            "naive_worker_env": scenarios.NAIVE_WORKER_ENV,
        }
    }
    began = time.monotonic()
    if "codec" in chosen:
        out["codec"] = await _guard(
            "codec", console, lambda: asyncio.to_thread(sec_codec.run_section, runs=sizes.runs)
        )
    if "caller" in chosen or "write_paths" in chosen:
        async with ThrowawayDb(args.database_url) as db:
            if "caller" in chosen:
                out["caller"] = await _guard(
                    "caller",
                    console,
                    lambda: sec_caller.run_section(
                        args.redis_url,
                        db.url,
                        calls=sizes.caller_calls,
                        rate=sizes.caller_rate,
                        direct_calls=sizes.direct_calls,
                        runs=sizes.runs,
                    ),
                )
            if "write_paths" in chosen:
                out["write_paths"] = await _guard(
                    "write_paths",
                    console,
                    lambda: sec_paths.run_section(
                        db.url, rows=sizes.path_rows, runs=sizes.runs, slow_rows=sizes.slow_rows
                    ),
                )
    if {"e2e", "latency", "api"} & set(chosen):
        workdir = temp_workdir()
        stack = await asyncio.to_thread(start_stack, workdir, args.database_url, args.redis_url)
        try:
            await ensure_ready(stack)
            tuned = WorkerConfig(2, scenarios.TUNED_WORKER_ENV)
            if "e2e" in chosen:
                scs = scenarios.main_scenarios(list(sizes.workers))
                if sizes.drain:
                    scs += scenarios.drain_scenarios(list(sizes.workers))
                if sizes.ablation:
                    scs += scenarios.ablation_scenarios()
                if args.quick and not args.scenarios:
                    scs = [s for s in scs if s.key.startswith("b50")]
                if args.scenarios:
                    keys = set(args.scenarios.split(","))
                    scs = [s for s in scs if s.key in keys]
                out["e2e"] = await _guard(
                    "e2e",
                    console,
                    lambda: sec_e2e.run_section(
                        stack, scs, records=sizes.e2e_records, runs=sizes.runs
                    ),
                )
            if "latency" in chosen:
                sustained = _sustained_rate(out.get("e2e"))
                rates = [("half the sustained rate", sustained / 2), ("trickle", 20.0)]
                if args.quick:
                    rates = rates[:1]
                out["latency"] = await _guard(
                    "latency",
                    console,
                    lambda: sec_latency.run_section(
                        stack,
                        scenarios.B50_PRODUCER,
                        tuned,
                        rates=rates,
                        seconds=sizes.latency_seconds,
                        runs=sizes.runs,
                    ),
                )
                if isinstance(out["latency"], dict):
                    out["latency"]["sustained_rate"] = sustained
            if "api" in chosen:
                out["api"] = await _guard(
                    "api",
                    console,
                    lambda: sec_api.run_section(
                        stack,
                        tuned,
                        pool_size=5,
                        concurrency=sizes.api_concurrency,
                        seconds=sizes.api_seconds,
                        steps=5,
                        runs=sizes.runs,
                        db_latency=args.api_db_latency_ms / 1e3,
                    ),
                )
        finally:
            await asyncio.to_thread(stack.stop)
            if not args.keep_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                console.print(f"stack logs kept in {workdir}")
    out["meta"]["load_after"] = meta.load_average()
    out["meta"]["wall_seconds"] = round(time.monotonic() - began, 1)
    return out


def _sustained_rate(e2e: Any, fallback: float = 20_000.0) -> float:
    if not isinstance(e2e, dict):
        return fallback
    for key in ("b50_w2", "b50_w1"):
        for sc in e2e.get("scenarios", []):
            if sc["key"] == key and sc["rows_per_s"]["median"] == sc["rows_per_s"]["median"]:
                return float(sc["rows_per_s"]["median"])
    return fallback


def render_file(json_path: Path) -> str:
    """Markdown of a JSON report written earlier."""
    import orjson

    from execlog_bench.markdown import render

    report: dict[str, Any] = orjson.loads(json_path.read_bytes())
    return render(report)


def main(argv: list[str] | None = None) -> int:
    """Run, print the tables, write the JSON (and plots)."""
    args = parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    console = Console(width=160)
    result = asyncio.run(run(args, console))
    report.print_report(console, result)
    report.write_json(args.out, result)
    console.print(f"JSON report: {args.out}")
    if args.markdown:
        from execlog_bench.markdown import render

        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(render(result), encoding="utf-8")
        console.print(f"Markdown: {args.markdown}")
    if args.plots:
        from execlog_bench.plots import write_plots

        for path in write_plots(result, args.plots):
            console.print(f"plot: {path}")
    return 0
