"""Independent release, for real: Pants runs in a git clone of the repository (its own buildroot).

A change confined to log-worker affects only the worker PEX; packaging the affected services builds
only that one, and the API PEX, rebuilt without Pants' process cache, is byte-identical to the one
built before the change, while the worker PEX differs. A change in a shared library
(execlog-schema) affects both services. Each Pants run costs 20-60 s here, so there are five.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from release_testkit import API, WORKER, Clone

from execlog_release import cli
from execlog_release.release import MANIFEST, package_targets

pytestmark = pytest.mark.timeout(1500)

WORKER_CHANGE = '''

def release_probe() -> str:
    """A change confined to log-worker (made by the release test)."""
    return __version__
'''
SCHEMA_CHANGE = '''

def release_probe() -> str:
    """A change in the shared schema library (made by the release test)."""
    return __version__
'''


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli.main, list(args))
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_a_worker_change_rebuilds_only_the_worker_and_leaves_the_api_pex_identical(
    clone: Clone,
) -> None:
    before = {a.target: a for a in package_targets(clone.path, [API, WORKER])}
    assert set(before) == {API, WORKER}

    clone.commit_change(
        "worker-change", "services/log-worker/src/execlog_worker/_version.py", WORKER_CHANGE
    )
    shutil.rmtree(clone.path / "dist")
    out = run_cli("package", "--since", clone.base, "--repo", str(clone.path), "--json")
    manifest = json.loads(out)
    assert manifest == json.loads((clone.path / MANIFEST).read_text())
    assert manifest["base_commit"] == clone.base
    [worker] = manifest["artifacts"]
    assert worker["target"] == WORKER, "a log-worker change must affect only the worker PEX"
    assert not (clone.path / before[API].path).exists(), "the API must not have been packaged"
    assert worker["sha256"] != before[WORKER].sha256

    # The API rebuilt from scratch at the new commit: not a cache hit, the same bytes.
    [api] = package_targets(clone.path, [API], pants_options=["--no-local-cache"])
    assert api.sha256 == before[API].sha256, "the API PEX changed with a log-worker-only change"


def test_a_shared_library_change_affects_both_services(clone: Clone) -> None:
    clone.commit_change(
        "schema-change", "libs/execlog-schema/src/execlog_schema/_version.py", SCHEMA_CHANGE
    )
    out = run_cli("affected", "--since", clone.base, "--repo", str(clone.path), "--json")
    assert json.loads(out) == [API, WORKER]
