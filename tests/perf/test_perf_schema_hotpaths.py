"""``python -m execlog_bench.schema_hotpaths`` runs and reports every operation."""

from __future__ import annotations

import pytest

from execlog_bench import schema_hotpaths


def test_schema_hotpaths_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema_hotpaths.main(["--records", "5", "--loops", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| build + encode_batch |" in out
    assert "| decode_batch(dict) (validate) |" in out


def test_schema_hotpaths_results_are_positive() -> None:
    results = schema_hotpaths.run(records=3, loops=2, repeat=1, clock="wall")
    assert len(results) == 8
    assert all(r.us_per_record > 0 and r.us_per_batch >= r.us_per_record for r in results)
