"""The report as Markdown tables (for BENCHMARKS.md): ``--markdown FILE``."""

from __future__ import annotations

from typing import Any

from execlog_bench.stats import fmt_num, fmt_ratio, fmt_summary
from execlog_bench.tables import (
    Grid,
    api_grid,
    api_ratios,
    codec_grid,
    e2e_grid,
    latency_grid,
    paths_grid,
)


def _table(head: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _grid(grid: Grid) -> str:
    return _table(grid.head, grid.rows, right_from=grid.text_columns)


def meta_md(meta: dict[str, Any]) -> str:
    """Machine, load, versions, settings."""
    m = meta["machine"]
    pg = meta.get("postgres", {})
    rd = meta.get("redis", {})
    v = meta["versions"]
    return "\n".join(
        [
            f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, "
            f"Linux {m['kernel']}; run at {m['time']}",
            f"- load average (1/5/15 min): before {tuple(meta['load_before'])}, after "
            f"{tuple(meta.get('load_after', ()))}; wall time {meta.get('wall_seconds')} s",
            "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
            "- PostgreSQL: " + ", ".join(f"{k}={val}" for k, val in pg.items()),
            "- Redis: " + ", ".join(f"{k}={val}" for k, val in rd.items()),
            f"- sizes: {meta['settings']}",
            f"- optimised worker env: `{meta.get('tuned_worker_env')}`; naive worker env: "
            f"`{meta.get('naive_worker_env')}`",
        ]
    )


def caller_md(sec: dict[str, Any]) -> str:
    """Section 1."""
    q, d = sec["queued"], sec["direct_insert"]
    rows = [
        [
            "ExecutionLogger.log() (through the queue)",
            fmt_summary(q["us_p50"], 1),
            fmt_summary(q["us_p99"], 1),
            fmt_summary(q["us_max"], 0),
        ],
        [
            "before: awaited INSERT + commit per record (pool 5)",
            fmt_summary(d["us_p50"], 0),
            fmt_summary(d["us_p99"], 0),
            fmt_summary(d["us_max"], 0),
        ],
    ]
    variants = [q, sec.get("queued_pinned") or {}, sec.get("queued_thread") or {}]

    def both(key: str, digits: int = 2) -> list[str]:
        return [fmt_summary(v[key], digits) if v else "-" for v in variants]

    lag = [
        [
            "idle (logger started, no log() calls, as long as the run), p99",
            *both("lag_idle_ms_p99"),
        ],
        ["idle, max", *both("lag_idle_ms_max")],
        ["idle: samples > 1 ms per 1,000", *both("idle_stalls_per_1000", 1)],
        ["while a publish is in flight, p50", *both("lag_during_flush_ms_p50")],
        ["while a publish is in flight, p99", *both("lag_during_flush_ms_p99")],
        ["while a publish is in flight, max", *both("lag_during_flush_ms_max")],
        ["whole run, p99", *both("lag_ms_p99")],
        ["samples during publishes", *both("lag_during_flush_samples", 0)],
        ["of them > 1 ms", *both("stalls_over_1ms", 0)],
        ["during publishes: samples > 1 ms per 1,000", *both("stalls_per_1000", 1)],
        ["log() µs p50", *both("us_p50", 1)],
        ["publish ms p50", *both("publish_ms_p50", 2)],
    ]
    interval = sec["settings"].get("switch_interval")
    return "\n\n".join(
        [
            _table(["design", "µs p50", "µs p99", "µs max"], rows),
            f"p50 ratio direct / queued: "
            f"**{fmt_ratio(sec.get('p50_ratio_direct_over_queued'), 0)}**; "
            f"{fmt_summary(q['flushes'])} publishes of "
            f"{fmt_summary(q['records_per_flush_mean'], 1)} records, "
            f"{fmt_summary(q['publish_ms_p50'], 2)} ms each (p50), at "
            f"{fmt_num(sec['settings']['rate'])} log() calls/s.",
            _table(
                [
                    "event-loop lag (how late a 1 ms timer fires), ms",
                    "as the API runs"
                    + (f" (GIL switch interval {interval * 1e3:g} ms)" if interval else ""),
                    "event loop on a CPU of its own",
                    "publishing from the logger's thread (LOG_PUBLISH_PROCESS=false)",
                ],
                lag,
            ),
        ]
    )


def e2e_md(sec: dict[str, Any]) -> str:
    """Section 2."""
    return _grid(e2e_grid(sec))


def latency_md(sec: dict[str, Any]) -> str:
    """Section 3."""
    return _grid(latency_grid(sec))


def api_md(sec: dict[str, Any]) -> str:
    """Section 4."""
    celery, celery_worker, direct = api_ratios(sec)
    return "\n\n".join(
        [
            _grid(api_grid(sec)),
            f"p99 / off: celery (log-worker on its own host) **{celery}**, celery with the "
            f"log-worker on these cores {celery_worker}, direct **{direct}** "
            f"({sec['concurrency']} clients, pool {sec['pool_size']}, "
            f"{sec['steps_per_execution']} echo steps per execution, database "
            f"{sec.get('db_latency_ms', 0):g} ms away each way; queue drained afterwards: "
            f"{'yes' if sec.get('queue_drained_after') else 'NO'}).",
        ]
    )


def paths_md(sec: dict[str, Any]) -> str:
    """Section 5."""
    return _grid(paths_grid(sec))


def codec_md(sec: dict[str, Any]) -> str:
    """Payload CPU."""
    return _grid(codec_grid(sec))


SECTIONS = {
    "caller": ("1. log() cost on the caller", caller_md),
    "e2e": ("2. End-to-end throughput vs plain COPY", e2e_md),
    "latency": ("3. Latency log() → row visible", latency_md),
    "api": ("4. The API under load", api_md),
    "write_paths": ("5. Worker write paths on the same rows", paths_md),
    "codec": ("Payload CPU per message", codec_md),
}


def render(report: dict[str, Any]) -> str:
    """Every section that ran."""
    parts = ["### Run", meta_md(report["meta"])]
    for key, (title, fn) in SECTIONS.items():
        sec = report.get(key)
        if isinstance(sec, dict) and "error" not in sec:
            parts += [f"### {title}", fn(sec)]
        elif isinstance(sec, dict):
            parts += [f"### {title}", f"failed: {sec['error']}"]
    return "\n\n".join(parts) + "\n"
