"""PNG plots of a report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plots(report: dict[str, Any], directory: Path) -> list[Path]:
    """Throughput bars vs plain COPY, and rows-committed-over-time traces; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    e2e = report.get("e2e")
    if isinstance(e2e, dict) and e2e.get("scenarios"):
        scs = e2e["scenarios"]
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(scs) + 1.5))
        names = [s["key"] for s in scs][::-1]
        rates = [(s["rows_per_s"]["median"] or 0) / 1e3 for s in scs][::-1]
        ceilings = [(s["plain_copy_rows_per_s"]["median"] or 0) / 1e3 for s in scs][::-1]
        y = range(len(scs))
        ax.barh([i + 0.2 for i in y], ceilings, height=0.4, color="#bbbbbb", label="plain COPY")
        ax.barh([i - 0.2 for i in y], rates, height=0.4, color="#3a78b5", label="end to end")
        ax.set_yticks(list(y))
        ax.set_yticklabels(names)
        ax.set_xlabel("thousand rows / s (median)")
        ax.set_title("End-to-end throughput vs plain COPY (same run)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        path = directory / "e2e_throughput.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        fig, ax = plt.subplots(figsize=(9, 4.5))
        for s in scs:
            if s["trace"] and s["group"] in ("main", "drain"):
                xs = [p[0] for p in s["trace"]]
                ys = [p[1] / 1e3 for p in s["trace"]]
                ax.plot(xs, ys, label=s["key"])
        ax.set_xlabel("seconds")
        ax.set_ylabel("thousand rows committed")
        ax.set_title("Rows committed over time (first run of each scenario)")
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = directory / "e2e_progress.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    paths = report.get("write_paths")
    if isinstance(paths, dict) and paths.get("paths"):
        fig, ax = plt.subplots(figsize=(9, 4))
        ps = paths["paths"][::-1]
        ax.barh(
            [f"{p['key']}" for p in ps],
            [(p["rows_per_s"]["median"] or 0) / 1e3 for p in ps],
            color="#5b9e5b",
        )
        ax.set_xlabel("thousand rows / s (median)")
        ax.set_title("Write paths on the same rows")
        fig.tight_layout()
        path = directory / "write_paths.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
