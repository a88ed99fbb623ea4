"""The rows of each report table, once: ``report`` prints them with rich, ``markdown`` as
Markdown for BENCHMARKS.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from execlog_bench.stats import fmt_num, fmt_ratio, fmt_summary


@dataclass(frozen=True)
class Grid:
    """Column heads, rows of cells, and how many leading columns are text (left-aligned)."""

    head: list[str]
    rows: list[list[str]]
    text_columns: int = 1


def e2e_grid(sec: dict[str, Any]) -> Grid:
    """Section 2: each scenario beside the same-run plain COPY, CPU per record per process."""
    rows = []
    for sc in sec["scenarios"]:
        cpu = sc["cpu_us_per_record"]
        rows.append(
            [
                f"`{sc['key']}` {sc['label']}",
                sc["mode"],
                fmt_summary(sc["rows_per_s"]),
                fmt_summary(sc["plain_copy_rows_per_s"]),
                fmt_summary(sc["ratio_vs_plain_copy"], 2),
                fmt_summary(sc["producer_rows_per_s"]),
                " / ".join(
                    fmt_num(cpu[p]["median"], 1) for p in ("producer", "worker_main", "worker_pool")
                ),
                f"errors: {sc['errors']}" if sc["errors"] else "",
            ]
        )
    head = [
        "scenario",
        "mode",
        "rows/s",
        "plain COPY rows/s (same run)",
        "ratio",
        "producer rows/s",
        "CPU µs/record: producer / worker main / pool",
        "",
    ]
    return Grid(head, rows, text_columns=2)


def latency_grid(sec: dict[str, Any]) -> Grid:
    """Section 3: log() → row visible, per load."""
    rows = [
        [
            p["label"],
            fmt_num(p["rate"]),
            fmt_summary(p["ms_p50"], 1),
            fmt_summary(p["ms_p99"], 1),
            fmt_summary(p["ms_max"], 1),
            "yes" if p["complete"] else "NO",
        ]
        for p in sec["points"]
    ]
    return Grid(["load", "records/s", "p50 ms", "p99 ms", "max ms", "all seen"], rows)


def api_grid(sec: dict[str, Any]) -> Grid:
    """Section 4: the API under load, per LOG_SINK mode, with its pool pressure."""
    rows = [
        [
            m["mode"],
            fmt_summary(m["ok_per_s"], 1),
            fmt_summary(m["ms_p50"], 1),
            fmt_summary(m["ms_p99"], 1),
            fmt_summary(m["pool_wait_ms_mean"], 2),
            fmt_summary(m["pool_waited_over_10ms"], 1, scale=100),
            str(int(m["pool_timeouts"])),
            str(m["errors"]),
        ]
        for m in sec["modes"]
    ]
    head = [
        "mode (LOG_SINK)",
        "executions started/s",
        "p50 ms",
        "p99 ms",
        "pool wait ms (mean)",
        "% checkouts waiting > 10 ms",
        "pool timeouts",
        "errors",
    ]
    return Grid(head, rows)


def api_ratios(sec: dict[str, Any]) -> tuple[str, str, str]:
    """p99 over logging off: celery (worker elsewhere), celery with the worker here, direct."""
    return (
        fmt_ratio(sec.get("p99_ratio_celery_over_off")),
        fmt_ratio(sec.get("p99_ratio_celery_worker_over_off")),
        fmt_ratio(sec.get("p99_ratio_direct_over_off")),
    )


def paths_grid(sec: dict[str, Any]) -> Grid:
    """Section 5: the worker's write paths on the same rows."""
    rows = [
        [
            p["label"],
            str(p["batch"]),
            f"{p['rows']:,}",
            "yes" if p["idempotent"] else "no",
            fmt_summary(p["rows_per_s"]),
            fmt_ratio(p.get("vs_plain_copy")),
        ]
        for p in sec["paths"]
    ]
    return Grid(["path", "batch", "rows", "idempotent", "rows/s", "vs plain COPY"], rows)


def codec_grid(sec: dict[str, Any]) -> Grid:
    """Payload CPU per message and per record, per codec step."""
    rows = [
        [s["step"], fmt_summary(s["us_per_message"], 1), f"{s['us_per_record']:.2f}"]
        for s in sec["steps"]
    ]
    return Grid(["step", "µs / message", "µs / record"], rows)
