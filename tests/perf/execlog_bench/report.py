"""Printing (rich tables) and the JSON report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from execlog_bench.stats import fmt_ratio, fmt_summary
from execlog_bench.tables import (
    Grid,
    api_grid,
    api_ratios,
    codec_grid,
    e2e_grid,
    latency_grid,
    paths_grid,
)

SECTIONS = ("caller", "e2e", "latency", "api", "write_paths", "codec")


def print_grid(console: Console, title: str, grid: Grid) -> None:
    """One :class:`~execlog_bench.tables.Grid` as a rich table."""
    t = Table(title=title)
    for i, col in enumerate(grid.head):
        t.add_column(col, justify="left" if i < grid.text_columns else "right")
    for row in grid.rows:
        t.add_row(*row)
    console.print(t)


def print_meta(console: Console, meta: dict[str, Any]) -> None:
    """Machine, load, versions and settings."""
    m = meta["machine"]
    console.print(
        f"[bold]machine[/] {m['cpu']} x {m['logical_cpus']} logical CPUs, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}; load average before "
        f"{meta['load_before']}, after {meta.get('load_after', '?')}"
    )
    v = meta["versions"]
    console.print("[bold]versions[/] " + ", ".join(f"{k} {val}" for k, val in v.items()))
    pg = meta.get("postgres", {})
    console.print("[bold]postgres[/] " + ", ".join(f"{k}={val}" for k, val in pg.items()))
    console.print(
        "[bold]redis[/] " + ", ".join(f"{k}={val}" for k, val in meta.get("redis", {}).items())
    )
    console.print(f"[bold]settings[/] {meta['settings']}")


def print_caller(console: Console, sec: dict[str, Any]) -> None:
    """Section 1."""
    q, d = sec["queued"], sec["direct_insert"]
    t = Table(
        title=f"1. log() cost on the caller ({sec['settings']['rate']:.0f} calls/s, batch "
        f"{sec['settings']['buffer_size']})"
    )
    t.add_column("design")
    t.add_column("µs p50", justify="right")
    t.add_column("µs p99", justify="right")
    t.add_column("µs max", justify="right")
    t.add_column("loop lag during flush p99 / max (ms)", justify="right")
    t.add_column("stalls > 1 ms", justify="right")
    for label, row in (
        ("ExecutionLogger.log() (queued)", q),
        ("same, event loop on a CPU of its own", sec.get("queued_pinned")),
        ("publishing from the logger's thread", sec.get("queued_thread")),
    ):
        if row is None:
            continue
        t.add_row(
            label,
            fmt_summary(row["us_p50"], 1),
            fmt_summary(row["us_p99"], 1),
            fmt_summary(row["us_max"], 0),
            f"{fmt_summary(row['lag_during_flush_ms_p99'], 2)} / "
            f"{fmt_summary(row['lag_during_flush_ms_max'], 2)}",
            fmt_summary(row["stalls_over_1ms"], 0),
        )
    t.add_row(
        "before: INSERT + commit per record (pool 5)",
        fmt_summary(d["us_p50"], 0),
        fmt_summary(d["us_p99"], 0),
        fmt_summary(d["us_max"], 0),
        "(the caller awaits)",
        "-",
    )
    console.print(t)
    console.print(
        f"direct / queued p50: {fmt_ratio(sec.get('p50_ratio_direct_over_queued'), 1)}; "
        f"publishes {fmt_summary(q['flushes'])} of {fmt_summary(q['records_per_flush_mean'], 1)} "
        f"records, {fmt_summary(q['publish_ms_p50'], 2)} ms each (p50); idle loop lag p99 / max "
        f"{fmt_summary(q['lag_idle_ms_p99'], 2)} / {fmt_summary(q['lag_idle_ms_max'], 2)} ms, "
        f"> 1 ms per 1,000 samples idle {fmt_summary(q['idle_stalls_per_1000'], 1)} vs during "
        f"publishes {fmt_summary(q['stalls_per_1000'], 1)}"
    )


def print_e2e(console: Console, sec: dict[str, Any]) -> None:
    """Section 2 (all groups)."""
    title = f"2. end-to-end throughput, {sec['records']:,} records, median of {sec['runs']}"
    print_grid(console, title, e2e_grid(sec))


def print_latency(console: Console, sec: dict[str, Any]) -> None:
    """Section 3."""
    title = f"3. log() → row visible (target p99 ≤ {sec['target_ms']:.0f} ms)"
    print_grid(console, title, latency_grid(sec))


def print_api(console: Console, sec: dict[str, Any]) -> None:
    """Section 4."""
    title = (
        f"4. API under load: POST /api/v1/executions, {sec['concurrency']} clients, pool "
        f"{sec['pool_size']}, {sec['steps_per_execution']} echo steps each, database "
        f"{sec.get('db_latency_ms', 0):g} ms away"
    )
    print_grid(console, title, api_grid(sec))
    celery, celery_worker, direct = api_ratios(sec)
    console.print(f"p99 / off: celery {celery}, celery+worker {celery_worker}, direct {direct}")


def print_paths(console: Console, sec: dict[str, Any]) -> None:
    """Section 5."""
    print_grid(console, "5. write paths on the same rows (rows/s)", paths_grid(sec))


def print_codec(console: Console, sec: dict[str, Any]) -> None:
    """Per-message CPU of the payload codec and validation."""
    title = (
        f"payload CPU per message of {sec['records_per_message']} records "
        f"({sec['message_bytes']:,} bytes)"
    )
    print_grid(console, title, codec_grid(sec))


PRINTERS = {
    "caller": print_caller,
    "e2e": print_e2e,
    "latency": print_latency,
    "api": print_api,
    "write_paths": print_paths,
    "codec": print_codec,
}


def print_report(console: Console, report: dict[str, Any]) -> None:
    """Everything measured, section by section."""
    print_meta(console, report["meta"])
    for name in SECTIONS:
        sec = report.get(name)
        if isinstance(sec, dict) and "error" not in sec:
            PRINTERS[name](console, sec)
        elif isinstance(sec, dict):
            console.print(f"[red]{name}: {sec['error']}[/]")


def write_json(path: Path, report: dict[str, Any]) -> None:
    """The whole report as indented JSON (NaN written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(_clean(report), option=orjson.OPT_INDENT_2))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
