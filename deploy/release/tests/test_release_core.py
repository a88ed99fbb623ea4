"""The release tool's plain functions: commands, Pants output parsing, outputs, manifest, and the
steps against a fake Pants (what they run, what they return, how they fail)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from release_testkit import API, BASE_SHA, GIT_IDENTITY, HEAD_SHA, WORKER, FakePants

from execlog_release.release import (
    BUILD_CONFIG,
    MANIFEST,
    SERVICE_FILTERS,
    Artifact,
    ReleaseError,
    affected_command,
    affected_targets,
    all_services_command,
    build_config_changed,
    build_manifest,
    default_output_path,
    failure_line,
    find_repo,
    match_outputs,
    package_command,
    package_targets,
    pants_env,
    parse_addresses,
    parse_written,
    release,
    resolve_commit,
    run_process,
    sha256_file,
    write_manifest,
)

# --- commands and environment ---------------------------------------------------------------------


def test_affected_command_lists_service_pex_targets_changed_or_depending_on_a_change() -> None:
    assert affected_command("origin/main") == [
        "./pants",
        "--changed-since=origin/main",
        "--changed-dependents=transitive",
        "--filter-target-type=pex_binary",
        "--filter-address-regex=^services/",
        "list",
    ]
    assert set(SERVICE_FILTERS) <= set(affected_command("x"))
    assert affected_command("x", ["--no-local-cache"])[:2] == ["./pants", "--no-local-cache"]


def test_package_command_packages_exactly_the_targets() -> None:
    assert package_command([API, WORKER]) == ["./pants", "package", API, WORKER]
    assert package_command([API], ["--no-local-cache"]) == [
        "./pants",
        "--no-local-cache",
        "package",
        API,
    ]


def test_pants_env_turns_pantsd_off_and_drops_the_calling_pythons_settings() -> None:
    env = pants_env(
        {
            "HOME": "/root",
            "PATH": "/usr/bin",
            "PANTS_PANTSD": "true",
            "PYTHONPATH": "/sandbox",
            "PEX_EXTRA_SYS_PATH": "/sandbox",
            "PEX": "/x.pex",
        }
    )
    assert env == {"HOME": "/root", "PATH": "/usr/bin", "PANTS_PANTSD": "false"}


# --- parsing --------------------------------------------------------------------------------------


def test_parse_addresses_sorts_and_deduplicates_and_skips_blank_lines() -> None:
    assert parse_addresses(f"\n{WORKER}\n{API}\n\n{WORKER}\n") == [API, WORKER]
    assert parse_addresses("") == []
    assert parse_addresses("services/api\n") == ["services/api"]


def test_parse_addresses_refuses_what_is_not_an_address() -> None:
    with pytest.raises(ReleaseError, match="unexpected line"):
        parse_addresses("Traceback (most recent call last):\n")


def test_parse_written_reads_the_wrote_lines_of_pants_package() -> None:
    stderr = (
        "17:22:22.04 [INFO] Completed: Building 16 requirements for services.api/execlog-api.pex\n"
        "17:22:23.04 [INFO] Wrote dist/services.api/execlog-api.pex\n"
        "17:22:23.04 [INFO] Wrote dist/services.log-worker/execlog-worker.pex\n"
    )
    assert parse_written(stderr) == [
        "dist/services.api/execlog-api.pex",
        "dist/services.log-worker/execlog-worker.pex",
    ]
    assert parse_written("17:22:23.04 [INFO] Completed: nothing\n") == []


@pytest.mark.parametrize(
    ("address", "path"),
    [
        (API, "dist/services.api/execlog-api.pex"),
        (WORKER, "dist/services.log-worker/execlog-worker.pex"),
        ("services/api", "dist/services.api/api.pex"),
        ("//:tool", "dist/tool.pex"),
    ],
)
def test_default_output_path_is_where_pants_writes_a_pex(address: str, path: str) -> None:
    assert default_output_path(address) == path


def test_failure_line_is_one_line_with_the_reason() -> None:
    def failed(stderr: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(["./pants"], 1, "", stderr)

    git_error = (
        "Exception caught: (GitBinaryException)\n  File ...\n\n"
        "Exception message: fatal: bad revision 'x...HEAD'\n"
    )
    assert failure_line(failed(git_error), "pants list") == (
        "pants list failed: fatal: bad revision 'x...HEAD'"
    )
    build_error = (
        "12:00:00.00 [INFO] Starting\n12:00:01.00 [ERROR] 1 Exception encountered:\n  more\n"
    )
    assert failure_line(failed(build_error), "pants package") == (
        "pants package failed: 1 Exception encountered:"
    )
    assert failure_line(failed(""), "pants list") == "pants list failed: exit status 1"


# --- outputs and manifest -------------------------------------------------------------------------


def test_sha256_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"pex")
    assert sha256_file(tmp_path / "f") == hashlib.sha256(b"pex").hexdigest()


def test_match_outputs_digests_the_file_written_for_each_target(tmp_path: Path) -> None:
    path = tmp_path / "dist" / "services.api" / "execlog-api.pex"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"api")
    [artifact] = match_outputs(tmp_path, [API], ["dist/services.api/execlog-api.pex"])
    assert artifact == Artifact(
        API, "dist/services.api/execlog-api.pex", hashlib.sha256(b"api").hexdigest(), 3
    )
    with pytest.raises(ReleaseError, match="did not report writing"):
        match_outputs(tmp_path, [WORKER], ["dist/services.api/execlog-api.pex"])
    with pytest.raises(ReleaseError, match="it is missing"):
        match_outputs(tmp_path, [WORKER], ["dist/services.log-worker/execlog-worker.pex"])


def test_manifest_lists_artifacts_by_target_and_is_written_as_json(tmp_path: Path) -> None:
    worker = Artifact(WORKER, "dist/w.pex", "1" * 64, 2)
    api = Artifact(API, "dist/a.pex", "0" * 64, 1)
    manifest = build_manifest("origin/main", BASE_SHA, HEAD_SHA, [worker, api])
    assert manifest == {
        "since": "origin/main",
        "base_commit": BASE_SHA,
        "head_commit": HEAD_SHA,
        "artifacts": [
            {"target": API, "path": "dist/a.pex", "sha256": "0" * 64, "size": 1},
            {"target": WORKER, "path": "dist/w.pex", "sha256": "1" * 64, "size": 2},
        ],
    }
    write_manifest(tmp_path / MANIFEST, manifest)
    assert json.loads((tmp_path / MANIFEST).read_text()) == manifest


# --- steps, against a fake Pants ------------------------------------------------------------------


def test_affected_targets_checks_the_ref_then_runs_pants_list_without_pantsd(
    fake_repo: Path, fake_pants: FakePants
) -> None:
    fake_pants.affected = [WORKER]
    assert affected_targets(fake_repo, "base", run=fake_pants, env={"PATH": "/bin"}) == [WORKER]
    assert fake_pants.calls[0][:2] == ["git", "rev-parse"]
    assert fake_pants.pants_calls() == [affected_command("base")]
    assert all(env["PANTS_PANTSD"] == "false" for env in fake_pants.envs)


def test_a_build_configuration_change_affects_every_service(
    fake_repo: Path, fake_pants: FakePants
) -> None:
    fake_pants.config_changed = ["pants.toml"]
    assert build_config_changed(fake_repo, "base", run=fake_pants) == ["pants.toml"]
    assert affected_targets(fake_repo, "base", run=fake_pants) == [API, WORKER]
    assert fake_pants.pants_calls() == [all_services_command()]
    assert all_services_command() == ["./pants", *SERVICE_FILTERS, "list", "::"]
    merge_base = next(c for c in fake_pants.calls if c[1] == "merge-base")
    assert merge_base[-2:] == ["base", "HEAD"]
    diff = next(c for c in fake_pants.calls if c[1] == "diff")
    assert diff[-len(BUILD_CONFIG) - 2 :] == [BASE_SHA, "--", *BUILD_CONFIG]


def test_an_unknown_ref_is_a_clear_error_before_pants_runs(
    fake_repo: Path, fake_pants: FakePants
) -> None:
    with pytest.raises(ReleaseError, match=r"^unknown git revision 'nope' in "):
        affected_targets(fake_repo, "nope", run=fake_pants)
    assert fake_pants.goals() == []


def test_a_failing_pants_run_is_a_one_line_error(fake_repo: Path, fake_pants: FakePants) -> None:
    fake_pants.fail["list"] = (1, "Exception message: Unmatched glob\n")
    with pytest.raises(ReleaseError, match=r"^pants list failed: Unmatched glob$"):
        affected_targets(fake_repo, "base", run=fake_pants)
    fake_pants.fail["package"] = (1, "12:00:00.00 [ERROR] 1 Exception encountered:\n")
    with pytest.raises(ReleaseError, match=r"^pants package failed: 1 Exception encountered:$"):
        package_targets(fake_repo, [API], run=fake_pants)


def test_package_targets_packages_each_target_once_and_nothing_for_none(
    fake_repo: Path, fake_pants: FakePants
) -> None:
    assert package_targets(fake_repo, [], run=fake_pants) == []
    assert fake_pants.calls == []
    artifacts = package_targets(fake_repo, [WORKER, API, WORKER], run=fake_pants)
    assert fake_pants.pants_calls() == [package_command([API, WORKER])]
    assert [(a.target, a.path) for a in artifacts] == [
        (API, "dist/services.api/execlog-api.pex"),
        (WORKER, "dist/services.log-worker/execlog-worker.pex"),
    ]
    assert artifacts[0].sha256 == hashlib.sha256(b"execlog-api").hexdigest()


def test_release_packages_only_the_affected_services(
    fake_repo: Path, fake_pants: FakePants
) -> None:
    fake_pants.affected = [WORKER]
    manifest = release(fake_repo, "base", run=fake_pants, pants_options=["--no-local-cache"])
    assert fake_pants.goals() == ["list", "package"]
    assert fake_pants.calls[-1] == package_command([WORKER], ["--no-local-cache"])
    assert manifest["base_commit"] == BASE_SHA
    assert manifest["head_commit"] == HEAD_SHA
    assert [a["target"] for a in manifest["artifacts"]] == [WORKER]


def test_release_with_nothing_affected_packages_nothing(
    fake_repo: Path, fake_pants: FakePants
) -> None:
    manifest = release(fake_repo, "base", run=fake_pants)
    assert fake_pants.goals() == ["list"]
    assert manifest["artifacts"] == []


def test_a_folder_without_pants_is_refused(tmp_path: Path, fake_pants: FakePants) -> None:
    with pytest.raises(ReleaseError, match="not an execlog checkout"):
        affected_targets(tmp_path, "base", run=fake_pants)
    with pytest.raises(ReleaseError, match="no execlog checkout"):
        find_repo(tmp_path)


def test_find_repo_walks_up_to_the_checkout(fake_repo: Path) -> None:
    (fake_repo / "services" / "api").mkdir(parents=True)
    assert find_repo(fake_repo / "services" / "api") == fake_repo.resolve()


# --- the real runner and git ----------------------------------------------------------------------


def test_run_process_captures_both_streams_and_echoes_stderr(tmp_path: Path) -> None:
    log = tmp_path / "log"
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    with log.open("w") as echo:
        result = run_process([sys.executable, "-c", code], tmp_path, {}, echo=echo)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert log.read_text() == "err\n"
    with pytest.raises(ReleaseError, match="cannot run"):
        run_process([str(tmp_path / "missing")], tmp_path, {})


def test_resolve_commit_with_real_git(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True, env=env)
    subprocess.run(
        ["git", *GIT_IDENTITY, "commit", "--quiet", "--allow-empty", "-m", "one"],
        cwd=tmp_path,
        check=True,
        env=env,
    )
    commit = resolve_commit(tmp_path, "HEAD", env=env)
    assert len(commit) == 40
    with pytest.raises(ReleaseError, match="unknown git revision '--help'"):
        resolve_commit(tmp_path, "--help", env=env)
    with pytest.raises(ReleaseError, match="unknown git revision 'nope'"):
        resolve_commit(tmp_path, "nope", env=env)
