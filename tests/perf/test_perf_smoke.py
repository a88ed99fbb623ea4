"""Smoke test of the benchmark harness: ``--quick`` runs and the JSON report has every section.

Not a timing assertion: only that each section ran and reported its figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECTION_KEYS = {
    "caller": ("queued", "direct_insert"),
    "e2e": ("scenarios",),
    "latency": ("points",),
    "api": ("modes",),
    "write_paths": ("paths",),
    "codec": ("steps",),
}


def _pythonpath() -> str:
    here = Path(__file__).resolve().parent
    entries = [str(here), *sys.path]
    if os.environ.get("PYTHONPATH"):
        entries.insert(1, os.environ["PYTHONPATH"])
    return os.pathsep.join(e for e in entries if e)


@pytest.mark.timeout(900)
def test_perf_smoke_quick_report_has_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "execlog_bench",
            "--quick",
            "--out",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {"machine", "versions", "postgres", "load_before", "load_after"} <= set(report["meta"])
    for section, keys in SECTION_KEYS.items():
        assert section in report, f"missing section {section}"
        assert "error" not in report[section], report[section].get("traceback")
        for key in keys:
            assert report[section].get(key), f"{section}.{key} empty"
    scenario = report["e2e"]["scenarios"][0]
    assert scenario["rows_per_s"]["median"] is not None, scenario["errors"]
    assert scenario["plain_copy_rows_per_s"]["median"] is not None
    assert (tmp_path / "plots" / "e2e_throughput.png").exists()
