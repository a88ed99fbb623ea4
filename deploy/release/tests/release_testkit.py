"""Fixtures and helpers of the release tool's tests: a fake ``./pants`` and ``git`` for the unit
tests, and a real git clone of the repository (its own Pants buildroot) for the end-to-end ones."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

API = "services/api:execlog-api"
WORKER = "services/log-worker:execlog-worker"
BASE_SHA = "a" * 40
HEAD_SHA = "b" * 40
GIT_IDENTITY = (
    "-c",
    "user.name=execlog release test",
    "-c",
    "user.email=release-test@execlog.invalid",
    "-c",
    "commit.gpgsign=false",
)


# --- a fake Pants for the unit tests --------------------------------------------------------------


@dataclass
class FakePants:
    """Answers the commands the release tool runs as Pants and git would, and records them.

    ``affected`` is what ``list`` prints for ``--changed-since``, ``services`` what it prints for
    ``::``; ``config_changed`` the build configuration files ``git diff`` reports; ``package``
    writes ``dist/<path>/<name>.pex`` with content ``contents[target]`` (default: the target's
    name) and reports it like Pants does; ``fail[goal]`` makes a goal fail (status, stderr).
    """

    affected: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=lambda: [API, WORKER])
    config_changed: list[str] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=lambda: {"HEAD": HEAD_SHA, "base": BASE_SHA})
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        self.envs.append(dict(env))
        if argv[0] == "git":
            return self.git(argv)
        goal = next(a for a in argv[1:] if not a.startswith("-"))
        if goal in self.fail:
            code, stderr = self.fail[goal]
            return subprocess.CompletedProcess(argv, code, "", stderr)
        if goal == "list":
            return completed(argv, lines(self.services if argv[-1] == "::" else self.affected))
        assert goal == "package", argv
        wrote = []
        for target in argv[argv.index("package") + 1 :]:
            spec, _, name = target.partition(":")
            path = Path("dist") / spec.replace("/", ".") / f"{name}.pex"
            (cwd / path).parent.mkdir(parents=True, exist_ok=True)
            (cwd / path).write_bytes(self.contents.get(target, name.encode()))
            wrote.append(f"12:00:00.00 [INFO] Wrote {path}")
        return completed(argv, "", lines(["12:00:00.00 [INFO] Starting", *wrote]))

    def git(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """``rev-parse``, ``merge-base``: from ``refs``; ``diff``: ``config_changed``."""
        if argv[1] == "diff":
            return completed(argv, lines(self.config_changed))
        ref = argv[-1].removesuffix("^{commit}") if argv[1] == "rev-parse" else argv[-2]
        sha = self.refs.get(ref)
        return completed(argv, f"{sha}\n") if sha else subprocess.CompletedProcess(argv, 1, "", "")

    def pants_calls(self) -> list[list[str]]:
        """The Pants commands run so far, in order."""
        return [call for call in self.calls if call[0] != "git"]

    def goals(self) -> list[str]:
        """The Pants goals run so far, in order."""
        return [next(a for a in c[1:] if not a.startswith("-")) for c in self.pants_calls()]


def lines(items: Sequence[str]) -> str:
    return "".join(f"{item}\n" for item in items)


def completed(argv: list[str], stdout: str, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(argv, 0, stdout, stderr)


@pytest.fixture()
def fake_repo(tmp_path: Path) -> Path:
    """A folder that passes for a checkout (pants.toml and ./pants)."""
    (tmp_path / "pants.toml").write_text("[GLOBAL]\n")
    (tmp_path / "pants").write_text("#!/bin/sh\nexit 99\n")
    return tmp_path


@pytest.fixture()
def fake_pants() -> FakePants:
    return FakePants()


# --- a real clone for the end-to-end tests --------------------------------------------------------


def repo_root() -> Path:
    """The repository to clone: EXECLOG_REPO_ROOT (set by Pants), else the one holding this file."""
    return Path(os.environ.get("EXECLOG_REPO_ROOT") or Path(__file__).resolve().parents[3])


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout, stripped. Fails the test with git's stderr on error."""
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass(frozen=True)
class Clone:
    """A clone of the repository's committed HEAD, and that commit."""

    path: Path
    base: str

    def commit_change(self, branch: str, relpath: str, addition: str) -> str:
        """On a new branch off ``base``, append ``addition`` to ``relpath``, commit; the commit."""
        git(self.path, "switch", "--quiet", "--create", branch, self.base)
        file = self.path / relpath
        assert file.is_file(), f"{relpath} is not in the committed tree"
        with file.open("a", encoding="utf-8") as handle:
            handle.write(addition)
        git(self.path, "commit", "--quiet", "--all", "--message", f"release test: {branch}")
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Clone:
    """A git clone of the repository in a temporary folder: its own Pants buildroot (its own
    .pants.d and dist/), sharing only the caches under ~/.cache with every other Pants run."""
    source = repo_root()
    if not (source / ".git").exists():
        pytest.fail(f"{source} is not a git checkout: set EXECLOG_REPO_ROOT to one")
    path = tmp_path_factory.mktemp("release") / "execlog"
    git(source, "clone", "--quiet", str(source), str(path))
    return Clone(path, git(path, "rev-parse", "HEAD"))
