"""The benchmark entry point runs and reports every operation."""

from __future__ import annotations

import pytest

from execlog_schema import bench


def test_bench_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--records", "5", "--loops", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| build + encode_batch |" in out
    assert "| decode_batch(dict) (validate) |" in out


def test_bench_results_are_positive() -> None:
    results = bench.run(records=3, loops=2, repeat=1, clock="wall")
    assert len(results) == 8
    assert all(r.us_per_record > 0 and r.us_per_batch >= r.us_per_record for r in results)
