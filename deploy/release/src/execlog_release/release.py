"""Which service PEXes a change affects, and packaging only those, with Pants.

A service's release artifact is a ``pex_binary`` target under ``services/``. The affected ones are
what ``./pants --changed-since=REF --changed-dependents=transitive list`` names, restricted to
those targets (:data:`SERVICE_FILTERS`): the services whose own files changed, and those that
depend, directly or not, on a changed library, requirement or lockfile. Packaging them writes
``dist/<path.with.dots>/<name>.pex``; the manifest records each one's sha256.

Pants runs as the checkout's own ``./pants``, without pantsd. The parsing and the manifest are
plain functions of Pants' output; only :func:`run_process` starts anything, and every function that
runs Pants takes the runner as an argument (the tests pass fakes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

SERVICE_FILTERS = ("--filter-target-type=pex_binary", "--filter-address-regex=^services/")
"""Pants options that keep only the services' release artifacts (not ``deploy/local:up``, say)."""
MANIFEST = Path("dist") / "release-manifest.json"
"""Where ``package`` writes its manifest, relative to the checkout."""
BUILD_CONFIG = ("pants.toml", "pants")
"""Files that can change every artifact but that Pants attributes to no target: when one changed,
every service counts as affected (``--changed-since`` alone would name none)."""
DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")
"""Variables of the calling Python (e.g. a PEX) that must not reach Pants' own interpreter."""

Runner = Callable[[Sequence[str], Path, Mapping[str, str]], subprocess.CompletedProcess[str]]
"""Runs ``argv`` in a directory with an environment; stdout and stderr captured as text."""

_ADDRESS = re.compile(r"[A-Za-z0-9_./@-]*:[A-Za-z0-9_.@-]+|[A-Za-z0-9_./@-]+")
_WROTE = re.compile(r"\bWrote (\S+)\s*$", re.M)


class ReleaseError(Exception):
    """A release step failed; the message is one line, fit for the user."""


@dataclass(frozen=True)
class Artifact:
    """One packaged service: its Pants target, its file (relative to the checkout), its digest."""

    target: str
    path: str
    sha256: str
    size: int


# --- commands and environment ---------------------------------------------------------------------


def affected_command(since: str, pants_options: Sequence[str] = ()) -> list[str]:
    """The Pants command listing the service PEX targets affected since ``since``."""
    return [
        "./pants",
        *pants_options,
        f"--changed-since={since}",
        "--changed-dependents=transitive",
        *SERVICE_FILTERS,
        "list",
    ]


def all_services_command(pants_options: Sequence[str] = ()) -> list[str]:
    """The Pants command listing every service PEX target."""
    return ["./pants", *pants_options, *SERVICE_FILTERS, "list", "::"]


def package_command(targets: Sequence[str], pants_options: Sequence[str] = ()) -> list[str]:
    """The Pants command packaging exactly ``targets``."""
    return ["./pants", *pants_options, "package", *targets]


def pants_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process' environment) for a Pants run: no pantsd, none of the
    calling Python's path or PEX settings."""
    if base is None:
        base = os.environ
    env = {
        key: value
        for key, value in base.items()
        if key not in DROPPED_ENV and not key.startswith("PEX_") and key != "PEX"
    }
    env["PANTS_PANTSD"] = "false"
    return env


def run_process(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], *, echo: TextIO | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion, capturing its output; its stderr also goes to ``echo``."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            raise ReleaseError(f"cannot run {argv[0]} in {cwd}: {exc.strerror or exc}") from None
        lines: list[str] = []
        assert process.stderr is not None
        with process.stderr:
            for line in process.stderr:
                lines.append(line)
                if echo is not None:
                    echo.write(line)
                    echo.flush()
        code = process.wait()
        out.seek(0)
        return subprocess.CompletedProcess(list(argv), code, out.read(), "".join(lines))


def stderr_runner(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """:func:`run_process` showing Pants' log on this process' stderr as it goes."""
    return run_process(argv, cwd, env, echo=sys.stderr)


# --- parsing Pants' output ------------------------------------------------------------------------


def parse_addresses(stdout: str) -> list[str]:
    """The target addresses ``./pants list`` printed, one a line, sorted and without repeats."""
    addresses = set()
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        if not _ADDRESS.fullmatch(line):
            raise ReleaseError(f"unexpected line in the output of pants list: {line!r}")
        addresses.add(line)
    return sorted(addresses)


def parse_written(stderr: str) -> list[str]:
    """The files ``./pants package`` reports as written (``Wrote dist/...``), in its order."""
    return _WROTE.findall(stderr)


def default_output_path(address: str) -> str:
    """Where ``./pants package`` writes a ``pex_binary`` by default, relative to the checkout:
    ``services/api:execlog-api`` -> ``dist/services.api/execlog-api.pex``."""
    spec_path, _, name = address.removeprefix("//").partition(":")
    name = name or spec_path.rsplit("/", 1)[-1]
    folder = spec_path.replace("/", ".")
    return "/".join(part for part in ("dist", folder, f"{name}.pex") if part)


def failure_line(result: subprocess.CompletedProcess[str], what: str) -> str:
    """One line saying why a Pants (or git) run failed, from its stderr."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Exception message:"):
            return f"{what} failed: {line.removeprefix('Exception message:').strip()}"
    errors = [line for line in lines if "[ERROR]" in line or line.startswith(("fatal:", "error:"))]
    reason = (errors or lines or [f"exit status {result.returncode}"])[-1]
    reason = re.sub(r"^\d\d:\d\d:\d\d\.\d\d \[ERROR\] ", "", reason)
    return f"{what} failed: {reason}"


# --- digests and manifest -------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def match_outputs(repo: Path, targets: Sequence[str], written: Iterable[str]) -> list[Artifact]:
    """The artifact of each target: the file Pants wrote for it, with its digest."""
    reported = {path.removeprefix("./") for path in written}
    artifacts = []
    for target in targets:
        path = default_output_path(target)
        if path not in reported:
            raise ReleaseError(
                f"pants package did not report writing {path} for {target} "
                f"(it wrote: {', '.join(sorted(reported)) or 'nothing'})"
            )
        file = repo / path
        if not file.is_file():
            raise ReleaseError(f"pants package reported {path} for {target}, but it is missing")
        artifacts.append(Artifact(target, path, sha256_file(file), file.stat().st_size))
    return artifacts


def build_manifest(
    since: str, base_commit: str, head_commit: str, artifacts: Sequence[Artifact]
) -> dict[str, Any]:
    """The release manifest: what was compared, and every artifact packaged (by target)."""
    return {
        "since": since,
        "base_commit": base_commit,
        "head_commit": head_commit,
        "artifacts": [asdict(a) for a in sorted(artifacts, key=lambda a: a.target)],
    }


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` as indented JSON (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


# --- the steps ------------------------------------------------------------------------------------


def is_checkout(folder: Path) -> bool:
    """Whether ``folder`` holds ``pants.toml`` and ``./pants``."""
    return (folder / "pants.toml").is_file() and (folder / "pants").is_file()


def find_repo(start: Path) -> Path:
    """The checkout (the folder with pants.toml and ./pants) at or above ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if is_checkout(folder):
            return folder
    raise ReleaseError(f"no execlog checkout (pants.toml and ./pants) at or above {start}")


def check_repo(repo: Path) -> Path:
    """``repo`` resolved, if it is a checkout with ``./pants``."""
    repo = repo.resolve()
    if not is_checkout(repo):
        raise ReleaseError(f"{repo} is not an execlog checkout (no ./pants or pants.toml)")
    return repo


def resolve_commit(
    repo: Path, ref: str, *, run: Runner = run_process, env: Mapping[str, str] | None = None
) -> str:
    """The commit ``ref`` names in ``repo``'s git history; a clear error if it names none."""
    result = run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        repo,
        pants_env(env),
    )
    commit = result.stdout.strip()
    if result.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        raise ReleaseError(f"unknown git revision {ref!r} in {repo}")
    return commit


def build_config_changed(
    repo: Path, since: str, *, run: Runner = run_process, env: Mapping[str, str] | None = None
) -> list[str]:
    """The :data:`BUILD_CONFIG` files changed since ``since`` (as ``--changed-since`` compares: from
    the merge base with HEAD to the work tree)."""
    git_env = pants_env(env)
    base = run(["git", "merge-base", "--end-of-options", since, "HEAD"], repo, git_env)
    if base.returncode != 0:
        raise ReleaseError(failure_line(base, f"git merge-base {since} HEAD"))
    diff = run(
        ["git", "diff", "--name-only", base.stdout.strip(), "--", *BUILD_CONFIG], repo, git_env
    )
    if diff.returncode != 0:
        raise ReleaseError(failure_line(diff, "git diff"))
    return [line for line in diff.stdout.splitlines() if line.strip()]


def affected_targets(
    repo: Path,
    since: str,
    *,
    run: Runner = run_process,
    env: Mapping[str, str] | None = None,
    pants_options: Sequence[str] = (),
) -> list[str]:
    """The service PEX targets affected by the changes since ``since`` (committed or not): every
    service when the build configuration (:data:`BUILD_CONFIG`) changed."""
    repo = check_repo(repo)
    resolve_commit(repo, since, run=run, env=env)
    if build_config_changed(repo, since, run=run, env=env):
        argv = all_services_command(pants_options)
    else:
        argv = affected_command(since, pants_options)
    result = run(argv, repo, pants_env(env))
    if result.returncode != 0:
        raise ReleaseError(failure_line(result, "pants list"))
    return parse_addresses(result.stdout)


def package_targets(
    repo: Path,
    targets: Sequence[str],
    *,
    run: Runner = run_process,
    env: Mapping[str, str] | None = None,
    pants_options: Sequence[str] = (),
) -> list[Artifact]:
    """Package exactly ``targets`` (nothing when empty) and return their artifacts."""
    repo = check_repo(repo)
    targets = sorted(set(targets))
    if not targets:
        return []
    result = run(package_command(targets, pants_options), repo, pants_env(env))
    if result.returncode != 0:
        raise ReleaseError(failure_line(result, "pants package"))
    return match_outputs(repo, targets, parse_written(result.stderr))


def release(
    repo: Path,
    since: str,
    *,
    run: Runner = run_process,
    env: Mapping[str, str] | None = None,
    pants_options: Sequence[str] = (),
) -> dict[str, Any]:
    """Package the service PEXes affected since ``since``; the manifest of what was built."""
    repo = check_repo(repo)
    base = resolve_commit(repo, since, run=run, env=env)
    head = resolve_commit(repo, "HEAD", run=run, env=env)
    targets = affected_targets(repo, since, run=run, env=env, pants_options=pants_options)
    artifacts = package_targets(repo, targets, run=run, env=env, pants_options=pants_options)
    return build_manifest(since, base, head, artifacts)
