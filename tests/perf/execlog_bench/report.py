"""Printing (rich tables) and the JSON report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from execlog_bench.stats import fmt_num, fmt_summary

SECTIONS = ("caller", "e2e", "latency", "api", "write_paths", "codec")


def _ratio(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}x"


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
        f"direct / queued p50: {_ratio(sec.get('p50_ratio_direct_over_queued'), 1)}; "
        f"publishes {fmt_summary(q['flushes'])} of {fmt_summary(q['records_per_flush_mean'], 1)} "
        f"records, {fmt_summary(q['publish_ms_p50'], 2)} ms each (p50); idle loop lag max "
        f"{fmt_summary(q['lag_idle_ms_max'], 2)} ms"
    )


def print_e2e(console: Console, sec: dict[str, Any]) -> None:
    """Section 2 (all groups)."""
    t = Table(
        title=f"2. end-to-end throughput, {sec['records']:,} records, median of {sec['runs']}"
    )
    for col in (
        "scenario",
        "mode",
        "rows/s",
        "plain COPY rows/s",
        "ratio",
        "producer rows/s",
        "CPU µs/record producer | worker main | pool",
    ):
        t.add_column(col, justify="left" if col in ("scenario", "mode") else "right")
    for sc in sec["scenarios"]:
        t.add_row(
            f"{sc['key']}: {sc['label']}",
            sc["mode"],
            fmt_summary(sc["rows_per_s"]),
            fmt_summary(sc["plain_copy_rows_per_s"]),
            fmt_summary(sc["ratio_vs_plain_copy"], 2),
            fmt_summary(sc["producer_rows_per_s"]),
            " | ".join(
                fmt_num(sc["cpu_us_per_record"][p]["median"], 1)
                for p in ("producer", "worker_main", "worker_pool")
            ),
        )
        if sc["errors"]:
            t.add_row(f"  errors: {sc['errors']}", "", "", "", "", "", "")
    console.print(t)


def print_latency(console: Console, sec: dict[str, Any]) -> None:
    """Section 3."""
    t = Table(title=f"3. log() → row visible (target p99 ≤ {sec['target_ms']:.0f} ms)")
    for col in ("load", "records/s", "p50 ms", "p99 ms", "max ms", "all seen"):
        t.add_column(col, justify="left" if col == "load" else "right")
    for p in sec["points"]:
        t.add_row(
            p["label"],
            fmt_num(p["rate"]),
            fmt_summary(p["ms_p50"], 1),
            fmt_summary(p["ms_p99"], 1),
            fmt_summary(p["ms_max"], 1),
            "yes" if p["complete"] else "NO",
        )
    console.print(t)


def print_api(console: Console, sec: dict[str, Any]) -> None:
    """Section 4."""
    t = Table(
        title=f"4. API under load: POST /api/v1/executions, {sec['concurrency']} clients, pool "
        f"{sec['pool_size']}, {sec['steps_per_execution']} echo steps each, database "
        f"{sec.get('db_latency_ms', 0):g} ms away"
    )
    cols = (
        "mode",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "pool wait ms",
        ">10 ms",
        "timeouts",
        "errors",
    )
    for col in cols:
        t.add_column(col, justify="left" if col == "mode" else "right")
    for m in sec["modes"]:
        t.add_row(
            m["mode"],
            fmt_summary(m["ok_per_s"], 1),
            fmt_summary(m["ms_p50"], 1),
            fmt_summary(m["ms_p99"], 1),
            fmt_summary(m["pool_wait_ms_mean"], 2),
            fmt_summary(m["pool_waited_over_10ms"], 1, scale=100),
            str(int(m["pool_timeouts"])),
            str(m["errors"]),
        )
    console.print(t)
    console.print(
        f"p99 / off: celery {_ratio(sec.get('p99_ratio_celery_over_off'))}, celery+worker "
        f"{_ratio(sec.get('p99_ratio_celery_worker_over_off'))}, direct "
        f"{_ratio(sec.get('p99_ratio_direct_over_off'))}"
    )


def print_paths(console: Console, sec: dict[str, Any]) -> None:
    """Section 5."""
    t = Table(title="5. write paths on the same rows (rows/s)")
    for col in ("path", "batch", "rows", "idempotent", "rows/s", "vs plain COPY"):
        t.add_column(col, justify="left" if col == "path" else "right")
    for p in sec["paths"]:
        t.add_row(
            p["label"],
            str(p["batch"]),
            f"{p['rows']:,}",
            "yes" if p["idempotent"] else "no",
            fmt_summary(p["rows_per_s"]),
            _ratio(p.get("vs_plain_copy")),
        )
    console.print(t)


def print_codec(console: Console, sec: dict[str, Any]) -> None:
    """Per-message CPU of the payload codec and validation."""
    t = Table(
        title=f"payload CPU per message of {sec['records_per_message']} records "
        f"({sec['message_bytes']:,} bytes)"
    )
    for col in ("step", "µs / message", "µs / record"):
        t.add_column(col, justify="left" if col == "step" else "right")
    for s in sec["steps"]:
        t.add_row(s["step"], fmt_summary(s["us_per_message"], 1), f"{s['us_per_record']:.2f}")
    console.print(t)


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
