"""The ``execlog-release`` command line against a fake Pants: output forms, the manifest file, the
options passed on, and one-line errors with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from release_testkit import API, BASE_SHA, WORKER, FakePants

from execlog_release import __version__, cli
from execlog_release.release import MANIFEST


@pytest.fixture()
def pants(fake_pants: FakePants, monkeypatch: pytest.MonkeyPatch) -> FakePants:
    """The fake Pants, as the CLI's runner (quiet and verbose alike)."""
    monkeypatch.setattr(cli, "run_process", fake_pants)
    monkeypatch.setattr(cli, "stderr_runner", fake_pants)
    return fake_pants


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    assert invoke("--version")[1].strip() == f"execlog-release, version {__version__}"


def test_affected_prints_one_target_a_line_or_json(fake_repo: Path, pants: FakePants) -> None:
    pants.affected = [WORKER, API]
    assert invoke("affected", "--since", "base", "--repo", str(fake_repo)) == (
        0,
        f"{API}\n{WORKER}\n",
        "",
    )
    code, out, _ = invoke("affected", "--since", "base", "--repo", str(fake_repo), "--json")
    assert (code, json.loads(out)) == (0, [API, WORKER])


def test_affected_finds_the_checkout_around_the_current_directory(
    fake_repo: Path, pants: FakePants, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fake_repo / "services").mkdir()
    monkeypatch.chdir(fake_repo / "services")
    pants.affected = [API]
    assert invoke("affected", "--since", "base")[:2] == (0, f"{API}\n")


def test_package_writes_the_manifest_and_prints_the_artifacts(
    fake_repo: Path, pants: FakePants
) -> None:
    pants.affected = [WORKER]
    code, out, err = invoke(
        "package", "--since", "base", "--repo", str(fake_repo), "--pants-option=--no-local-cache"
    )
    assert code == 0, err
    manifest = json.loads((fake_repo / MANIFEST).read_text())
    assert manifest["base_commit"] == BASE_SHA
    [artifact] = manifest["artifacts"]
    assert out == f"{WORKER} {artifact['path']} {artifact['sha256']}\n"
    assert "1 service(s) affected since base" in err
    assert pants.calls[-1][:3] == ["./pants", "--no-local-cache", "package"]


def test_package_json_and_manifest_path(fake_repo: Path, pants: FakePants, tmp_path: Path) -> None:
    pants.affected = [API, WORKER]
    target = tmp_path / "out" / "m.json"
    code, out, _ = invoke(
        "package", "--since", "base", "--repo", str(fake_repo), "--manifest", str(target), "--json"
    )
    assert code == 0
    assert json.loads(out) == json.loads(target.read_text())
    assert [a["target"] for a in json.loads(out)["artifacts"]] == [API, WORKER]
    assert not (fake_repo / MANIFEST).exists()


@pytest.mark.parametrize("command", ["affected", "package"])
def test_unknown_ref_is_one_line_and_exit_status_1(
    command: str, fake_repo: Path, pants: FakePants
) -> None:
    code, out, err = invoke(command, "--since", "nope", "--repo", str(fake_repo))
    assert (code, out) == (1, "")
    assert err == f"Error: unknown git revision 'nope' in {fake_repo.resolve()}\n"


def test_pants_failure_is_one_line_and_exit_status_1(fake_repo: Path, pants: FakePants) -> None:
    pants.affected = [API]
    pants.fail["package"] = (1, "12:00:00.00 [ERROR] 1 Exception encountered:\n  detail\n")
    code, _, err = invoke("package", "--since", "base", "--repo", str(fake_repo), "-v")
    assert (code, err) == (1, "Error: pants package failed: 1 Exception encountered:\n")
    assert not (fake_repo / MANIFEST).exists()


def test_not_a_checkout_is_one_line_and_exit_status_1(tmp_path: Path, pants: FakePants) -> None:
    code, _, err = invoke("affected", "--since", "base", "--repo", str(tmp_path))
    assert code == 1
    assert err.count("\n") == 1
    assert "is not an execlog checkout" in err
