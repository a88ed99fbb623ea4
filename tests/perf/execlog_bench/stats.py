"""Small statistics helpers: percentiles and median/min/max summaries of repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (``pct`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    frac = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * frac)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{"median", "min", "max", "runs"}`` of repeated measurements (NaN when empty)."""
    clean = [float(v) for v in values if not math.isnan(float(v))]
    if not clean:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "runs": []}
    return {
        "median": statistics.median(clean),
        "min": min(clean),
        "max": max(clean),
        "runs": clean,
    }


def median_of(runs: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """:func:`summary` of ``run[key]`` over runs that have it."""
    return summary([float(r[key]) for r in runs if key in r and r[key] is not None])


def fmt_num(value: float, digits: int = 0) -> str:
    """Thousands-separated number; '-' for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float | None, digits: int = 2) -> str:
    """``1.23x``; '-' for a missing or NaN ratio."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}x"


def fmt_summary(s: dict[str, Any], digits: int = 0, scale: float = 1.0) -> str:
    """``median [min-max]`` of a :func:`summary`."""
    med = s.get("median", math.nan)
    if med is None or math.isnan(med):
        return "-"
    if len(s.get("runs", [])) <= 1:
        return fmt_num(med * scale, digits)
    return (
        f"{fmt_num(med * scale, digits)} "
        f"[{fmt_num(s['min'] * scale, digits)}-{fmt_num(s['max'] * scale, digits)}]"
    )
