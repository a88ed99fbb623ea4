"""Every command line in deploy/ that runs one of our PEXes is accepted by the PEX as packaged.

The Dockerfiles, compose files, Kubernetes manifests, systemd units and the Supervisor config all
run ``execlog-api.pex`` or ``execlog-worker.pex`` with a subcommand and options; a renamed option or
subcommand would only show when a deployment starts. ``deploy_commands`` parses each of those
command lines out of the files, and this test runs it against the PEX that ``./pants package``
builds (``runtime_package_dependencies``), as an executable file the way systemd runs it, with a
clean environment holding the settings the deploy file gives that process:

- the long-running and migration commands (``serve``/``migrate``; ``worker``/``api``/``flower``/
  ``migrate``) get ``--check`` appended: the PEX loads the settings and everything the command
  would load at run time (database driver, broker transport, app factory, Celery's own parsing of
  the worker options, Flower), then exits 0 without starting or connecting to anything;
- any other command (``ping`` of the liveness probes...) gets ``--help`` appended: click rejects an
  unknown subcommand or option before it prints the help.

The negative cases run deliberately wrong commands through the same runner and expect a failure,
and the parser must find the commands each kind of deploy file is known to hold.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_commands import (
    API_PEX,
    CHECK_OPTION,
    CHECKED_SUBCOMMANDS,
    HELP_OPTION,
    IMAGE_ENTRYPOINT,
    PEX_IN_DIST,
    PEXES,
    WORKER_PEX,
    DeployCommand,
    LocalTargets,
    collect,
    compose_files,
    interpolate,
    k8s_base_files,
    k8s_overlay_files,
    parse_unit,
    settings_env,
    supervisor_env,
    systemd_specifiers,
    unused_port,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMMANDS = collect(DEPLOY)
RUN_TIMEOUT = 240.0
"""Seconds for one PEX run; the first run of each PEX also builds its venv under PEX_ROOT."""


def pex_path(pex: str) -> Path:
    """The packaged PEX: in the sandbox (runtime_package_dependencies), else in the repo's dist/."""
    for base in (Path.cwd(), REPO / "dist"):
        path = base / PEX_IN_DIST[pex]
        if path.is_file():
            return path
    raise AssertionError(f"{PEX_IN_DIST[pex]} not found: run ./pants package, or ./pants test")


@dataclass(frozen=True)
class PexRunner:
    """Runs a deploy command's PEX with ``--check`` or ``--help`` in a clean environment."""

    pex_root: Path
    local: LocalTargets

    def run(self, command: DeployCommand) -> tuple[list[str], subprocess.CompletedProcess[str]]:
        argv = [str(pex_path(command.pex)), *command.probe_argv()]
        env: Mapping[str, str] = {
            **settings_env(command, DEPLOY, self.local),
            "HOME": os.environ["HOME"],
            "PATH": os.environ["PATH"],
            "PEX_ROOT": str(self.pex_root),
        }
        result = subprocess.run(
            argv,
            env=env,
            cwd=self.local.scratch,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        return argv, result


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> PexRunner:
    scratch = tmp_path_factory.mktemp("scratch")
    local = LocalTargets(database_port=unused_port(), redis_port=unused_port(), scratch=scratch)
    return PexRunner(tmp_path_factory.mktemp("pex_root"), local)


def _report(
    command: DeployCommand, argv: Sequence[str], result: subprocess.CompletedProcess[str]
) -> str:
    shown = " ".join([command.pex, *argv[1:]])
    return f"{command.id}: `{shown}` exited {result.returncode}:\n{result.stdout}"


# --- the deploy commands, run ------------------------------------------------------------------


@pytest.mark.timeout(RUN_TIMEOUT + 30)
@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_the_packaged_pex_accepts_the_deploy_command(
    command: DeployCommand, runner: PexRunner
) -> None:
    argv, result = runner.run(command)
    assert result.returncode == 0, _report(command, argv, result)


NEGATIVE = [
    # --check appended (a checked subcommand): click rejects the option first.
    pytest.param(
        API_PEX, ("serve", "--no-such-option"), "no-such-option", id="api-serve-bad-option"
    ),
    # --help appended: click rejects an unknown subcommand or option before printing the help.
    pytest.param(API_PEX, ("frobnicate",), "frobnicate", id="api-unknown-subcommand"),
    pytest.param(WORKER_PEX, ("frobnicate",), "frobnicate", id="worker-unknown-subcommand"),
    pytest.param(
        WORKER_PEX, ("ping", "--no-such-option"), "no-such-option", id="worker-ping-bad-option"
    ),
    pytest.param(
        WORKER_PEX, ("partitions", "frobnicate"), "frobnicate", id="worker-unknown-nested"
    ),
    # `worker` passes options it does not know on to Celery: only --check has Celery parse them.
    pytest.param(
        WORKER_PEX,
        ("worker", "--no-such-celery-option"),
        "no-such-celery-option",
        id="worker-bad-celery-option",
    ),
]


@pytest.mark.timeout(RUN_TIMEOUT + 30)
@pytest.mark.parametrize(("pex", "args", "culprit"), NEGATIVE)
def test_the_runner_fails_a_wrong_command(
    pex: str, args: tuple[str, ...], culprit: str, runner: PexRunner
) -> None:
    command = DeployCommand(f"negative:{' '.join(args)}", "negative", "", pex, args)
    argv, result = runner.run(command)
    assert result.returncode != 0, _report(command, argv, result)
    assert culprit in result.stdout, _report(command, argv, result)


# --- the parser finds what the files hold ------------------------------------------------------


def _ids_in(path: Path) -> list[str]:
    rel = path.relative_to(DEPLOY).as_posix()
    return [c.id for c in COMMANDS if c.path == rel]


def _yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_one_command_per_dockerfile() -> None:
    dockerfiles = sorted((DEPLOY / "compose").glob("*.Dockerfile"))
    assert len(dockerfiles) >= 2
    for path in dockerfiles:
        assert len(_ids_in(path)) == 1, path


def _ours(image: object) -> bool:
    return re.match(r"execlog-(api|worker):", str(image).rsplit("/", 1)[-1]) is not None


def test_every_compose_service_running_our_images_is_found() -> None:
    base = _yaml(DEPLOY / "compose" / "docker-compose.yml")["services"]
    for path, base_path in compose_files(DEPLOY):
        services = _yaml(path)["services"]
        if base_path is not None:
            services = {name: base[name] for name in services if name in base}
        ours = {name for name, service in services.items() if _ours(service.get("image"))}
        probes = {
            name
            for name in ours
            if IMAGE_ENTRYPOINT in (services[name].get("healthcheck") or {}).get("test", [])
        }
        rel = path.relative_to(DEPLOY).as_posix()
        assert len(ours) >= 5, f"{rel}: only {sorted(ours)} run our images"
        assert probes, f"{rel}: no healthcheck runs {IMAGE_ENTRYPOINT}"
        expected = {f"{rel}:{n}:command" for n in ours} | {f"{rel}:{n}:healthcheck" for n in probes}
        assert set(_ids_in(path)) == expected


def _k8s_containers(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                yield from value
            else:
                yield from _k8s_containers(value)


def test_every_k8s_container_running_our_images_is_found() -> None:
    expected: set[str] = set()
    for path in k8s_base_files(DEPLOY):
        rel = path.relative_to(DEPLOY).as_posix()
        for container in _k8s_containers(_yaml(path)):
            if _ours(container.get("image")):
                expected.add(f"{rel}:{container['name']}")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if IMAGE_ENTRYPOINT in container.get(probe, {}).get("exec", {}).get(
                        "command", []
                    ):
                        expected.add(f"{rel}:{container['name']}:{probe}")
    for path in k8s_overlay_files(DEPLOY):
        rel = path.relative_to(DEPLOY).as_posix()
        for container in _k8s_containers(_yaml(path)):
            if "args" in container or "command" in container:
                expected.add(f"{rel}:{container['name']}")
    assert len([i for i in expected if i.startswith("k8s/base/")]) >= 6
    assert any(i.startswith("k8s/overlays/") for i in expected), "no overlay sets args"
    assert any(i.endswith("Probe") for i in expected), "no exec probe runs the PEX"
    found = {c.id for c in COMMANDS if c.kind == "k8s"}
    assert found == expected


def test_every_systemd_exec_line_running_a_pex_is_found() -> None:
    pex_line = re.compile(r"^Exec\w*=\S*/opt/execlog/bin/execlog-(api|worker)\.pex\b", re.MULTILINE)
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    with_pex = [p for p in units if pex_line.search(p.read_text(encoding="utf-8"))]
    assert len(with_pex) >= 6
    for path in with_pex:
        ids = _ids_in(path)
        assert len(ids) == len(pex_line.findall(path.read_text(encoding="utf-8"))), path
        assert f"{path.relative_to(DEPLOY).as_posix()}:ExecStart" in ids


def test_every_supervisor_program_is_found() -> None:
    path = DEPLOY / "supervisor" / "execlog.conf"
    config = configparser.RawConfigParser()
    config.read(path, encoding="utf-8")
    programs = {
        section.removeprefix("program:"): config[section]
        for section in config.sections()
        if section.startswith("program:") and ".pex" in config[section]["command"]
    }
    assert len(programs) >= 6
    ids = _ids_in(path)
    # One command per process: numprocs=2 runs the worker program twice (logs1, logs2).
    assert len(ids) == sum(int(p.get("numprocs", "1")) for p in programs.values())
    rel = path.relative_to(DEPLOY).as_posix()
    for name in programs:
        assert any(i == f"{rel}:{name}" or i.startswith(f"{rel}:{name}-") for i in ids), name


def test_every_deployed_long_running_command_is_checked() -> None:
    found = {(c.pex, c.subcommand[0]) for c in COMMANDS if c.subcommand}
    for pex in PEXES:
        for name in CHECKED_SUBCOMMANDS[pex]:
            assert (pex, name) in found, f"no deploy file runs {pex} {name}"
    kinds = Counter(c.kind for c in COMMANDS)
    assert set(kinds) == {"dockerfile", "compose", "k8s", "systemd", "supervisor"}


# --- the harness itself ------------------------------------------------------------------------


def test_compose_interpolation_takes_the_default() -> None:
    assert interpolate("redis://:${REDIS_PASSWORD:-execlog-redis}@redis:6379/0") == (
        "redis://:execlog-redis@redis:6379/0"
    )
    assert interpolate("${A-x}/${B}/$$HOME/${C:+y}") == "x//$HOME/"
    with pytest.raises(ValueError, match="required variable"):
        interpolate("${SECRET:?set it}")


def test_systemd_specifiers_get_sample_values() -> None:
    unit = parse_unit(DEPLOY / "systemd" / "execlog-worker@.service")
    value = systemd_specifiers("%i@%H %n 100%%", "execlog-worker@logs1.service", unit, "test")
    assert value == "logs1@host1 execlog-worker@logs1.service 100%"
    with pytest.raises(ValueError, match="%Z"):
        systemd_specifiers("%Z", "execlog-api.service", unit, "test")


def test_supervisor_environment_pairs() -> None:
    assert supervisor_env('A="x y",B="logs%(n)d@%%h"' % {"n": 2}, "test") == {
        "A": "x y",
        "B": "logs2@%h",
    }
    with pytest.raises(ValueError, match="KEY=value"):
        supervisor_env("A", "test")


def test_checked_commands_get_check_and_the_others_help() -> None:
    def probe(pex: str, *args: str) -> str:
        return DeployCommand("t", "t", "", pex, args).probe_argv()[-1]

    assert probe(API_PEX, "serve", "--workers=2") == CHECK_OPTION
    assert probe(WORKER_PEX, "worker", "--concurrency=4") == CHECK_OPTION
    assert probe(WORKER_PEX, "ping") == HELP_OPTION
    assert probe(WORKER_PEX, "partitions", "ensure") == HELP_OPTION
    assert probe(API_PEX, "--version") == HELP_OPTION
