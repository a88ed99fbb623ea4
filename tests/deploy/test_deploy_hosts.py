"""Plain-host deployment: deploy/systemd, deploy/supervisor, deploy/env, deploy/logrotate, scripts.

systemd units pass ``systemd-analyze verify``; the Supervisor config is loaded by Supervisor's own
parser; every command they run is a real CLI command; every variable they or the env file
examples set is a setting of that service with a value that parses; logs land where logrotate
rotates them, and logrotate really rotates them; every shell script passes ``bash -n`` and
``shellcheck``; execlog-env-exec behaves as documented.
"""

from __future__ import annotations

import getpass
import grp
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from deploy_testkit import REPO, WORK_TREE, load_known_settings, load_settings, parse_cli

DEPLOY = REPO / "deploy"
SYSTEMD = DEPLOY / "systemd"
SUPERVISOR_CONF = DEPLOY / "supervisor" / "execlog.conf"
ENV_EXEC = DEPLOY / "supervisor" / "execlog-env-exec"
ENV_DIR = DEPLOY / "env"
LOGROTATE = DEPLOY / "logrotate" / "execlog"

PEX_DIR = "/opt/execlog/bin"
PEXES = {"execlog-api.pex": "execlog-api", "execlog-worker.pex": "execlog-worker"}
ENV_FILES = {"api.env": "execlog-api", "log-worker.env": "execlog-worker"}
LONG_RUNNING = {"serve", "worker", "api", "flower"}


def is_build_file(path: Path) -> bool:
    """Pants' BUILD files (``BUILD``, ``BUILD.*``) sit among the deployment files: not ours."""
    return path.name == "BUILD" or path.name.startswith("BUILD.")


def deploy_files(directory: Path) -> list[Path]:
    """The files of a deployment directory, BUILD files left out."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not is_build_file(p))


def split_pex_command(argv: list[str]) -> tuple[str, list[str], list[str]]:
    """(service, env files, CLI args) of ``[execlog-env-exec FILES --] /opt/.../<x>.pex ARGS``."""
    files: list[str] = []
    if argv[0] == f"{PEX_DIR}/execlog-env-exec":
        cut = argv.index("--")
        files, argv = argv[1:cut], argv[cut + 1 :]
    assert argv[0].startswith(PEX_DIR + "/"), argv
    return PEXES[argv[0].rsplit("/", 1)[-1]], files, argv[1:]


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{path.name}: {line!r}"
        values[key] = value.strip('"')
    return values


def example_for(etc_path: str) -> Path:
    """deploy/env/<name>.example for /etc/execlog/<name> (a leading '-' marks it optional)."""
    name = etc_path.lstrip("-")
    assert name.startswith("/etc/execlog/"), name
    return ENV_DIR / (name.rsplit("/", 1)[-1] + ".example")


def env_from_files(files: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in files:
        example = example_for(entry)
        if entry.startswith("-") and not example.exists():
            continue
        env.update(read_env_file(example))
    return env


def logrotate_globs() -> list[str]:
    text = LOGROTATE.read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.rstrip().endswith("{"))
    return header.rstrip("{ ").split()


def assert_rotated(path: str) -> None:
    assert any(fnmatch(path, g) for g in logrotate_globs()), f"{path} is not rotated"


# --- systemd -----------------------------------------------------------------------------------


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path.name}: key outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


UNITS = sorted(SYSTEMD.glob("*.service"))


def expand_specifiers(value: str, instance: str) -> str:
    return value.replace("%i", instance).replace("%H", "host.example").replace("%%", "%")


def unit_env(
    unit: dict[str, dict[str, list[str]]], instance: str
) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    for line in unit["Service"].get("Environment", []):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = expand_specifiers(value, instance)
    files = [expand_specifiers(f, instance) for f in unit["Service"].get("EnvironmentFile", [])]
    return env, files


def test_systemd_has_a_unit_per_process_and_a_target() -> None:
    names = {p.name for p in deploy_files(SYSTEMD)}
    assert names == {
        "execlog-api.service",
        "execlog-api-migrate.service",
        "execlog-worker@.service",
        "execlog-log-worker-api.service",
        "execlog-log-worker-migrate.service",
        "execlog-flower.service",
        "execlog.target",
    }
    wants = parse_unit(SYSTEMD / "execlog.target")["Unit"]["Wants"][0].split()
    for want in wants:
        template = re.sub(r"@[^.]+\.service$", "@.service", want)
        assert (SYSTEMD / template).is_file(), want


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_unit_runs_a_real_command_with_known_settings(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = parse_unit(path)
    service_section = unit["Service"]
    (exec_start,) = service_section["ExecStart"]
    assert "$" not in exec_start, "no shell-style expansion: settings come from the environment"
    service, files, argv = split_pex_command(shlex.split(exec_start))
    command = parse_cli(service, argv).command.name
    env, env_files = unit_env(unit, "logs1")
    assert env_files[0] == f"/etc/execlog/{'api' if service == 'execlog-api' else 'log-worker'}.env"
    env.update(env_from_files(env_files))
    load_known_settings(service, env, monkeypatch, where=path.name)
    assert service_section["User"] == ["execlog"]
    assert env["PEX_ROOT"].startswith("/var/cache/" + service_section["CacheDirectory"][0])

    (stdout,) = service_section["StandardOutput"]
    assert stdout.startswith("append:")
    log_path = expand_specifiers(stdout.removeprefix("append:"), "logs1")
    assert_rotated(log_path)
    assert log_path.startswith(f"/var/log/{service_section['LogsDirectory'][0]}/")

    if command == "migrate":
        assert service_section["Type"] == ["oneshot"]
        assert "Restart" not in service_section
    else:
        assert command in LONG_RUNNING
        assert service_section["Restart"] == ["always"]
        assert "WantedBy" in unit["Install"]
        assert unit["Unit"]["PartOf"] == ["execlog.target"]
    if command in ("serve", "worker", "api"):
        migrate_unit = unit["Unit"]["Requires"][0]
        assert migrate_unit in unit["Unit"]["After"][0].split()
        migrate_exec = parse_unit(SYSTEMD / migrate_unit)["Service"]["ExecStart"][0]
        assert split_pex_command(shlex.split(migrate_exec))[0] == service
    if command == "serve":
        assert env["LOG_SPOOL_DIR"] == f"/var/lib/{service_section['StateDirectory'][0]}"


def test_systemd_worker_instances_differ_by_name_and_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unit = parse_unit(SYSTEMD / "execlog-worker@.service")
    seen: dict[str, tuple[str, int]] = {}
    for instance in ("logs1", "logs2"):
        env, files = unit_env(unit, instance)
        assert files[-1] == f"-/etc/execlog/worker-{instance}.env"
        env.update(env_from_files(files))
        settings: Any = load_settings("execlog-worker", env, monkeypatch)
        seen[instance] = (settings.worker_hostname, settings.worker_metrics_port)
    assert seen["logs1"][0] == "logs1@host.example"
    assert len({v[0] for v in seen.values()}) == len({v[1] for v in seen.values()}) == 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in (*PEXES, "execlog-env-exec"):
        (bin_dir / name).write_text("#!/bin/sh\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for path in deploy_files(SYSTEMD):
        text = path.read_text(encoding="utf-8").replace(PEX_DIR + "/", f"{bin_dir}/")
        (units / path.name).write_text(text, encoding="utf-8")
    names = [p.name.replace("@.service", "@logs1.service") for p in sorted(units.iterdir())]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


# --- supervisor --------------------------------------------------------------------------------

_SUPERVISOR_DUMP = """
import json, sys
from supervisor.options import ServerOptions
options = ServerOptions()
options.realize(args=["-c", sys.argv[1]])
print(json.dumps([
    {"group": g.name, "name": p.name, "command": p.command, "environment": p.environment or {},
     "stdout_logfile": p.stdout_logfile, "stdout_logfile_maxbytes": p.stdout_logfile_maxbytes,
     "autostart": p.autostart, "autorestart": p.autorestart.__name__ if isinstance(
        p.autorestart, type) else str(p.autorestart), "stopsignal": int(p.stopsignal),
     "killasgroup": p.killasgroup, "stopasgroup": p.stopasgroup}
    for g in options.process_group_configs for p in g.process_configs]))
"""


def supervisor_python() -> str | None:
    for python in ("/usr/bin/python3", shutil.which("python3")):
        if (
            python
            and subprocess.run(
                [python, "-c", "import supervisor.options"], capture_output=True, check=False
            ).returncode
            == 0
        ):
            return python
    return None


SUPERVISOR_PYTHON = supervisor_python()


@pytest.fixture(scope="module")
def supervisor_programs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The programs as Supervisor itself parses execlog.conf (user and log dir made local)."""
    if SUPERVISOR_PYTHON is None:
        pytest.skip("Supervisor is not installed (Debian package supervisor)")
    root = tmp_path_factory.mktemp("supervisor")
    for sub in ("var/log/execlog", "var/log/celery"):
        (root / sub).mkdir(parents=True)
    text = SUPERVISOR_CONF.read_text(encoding="utf-8")
    assert re.findall(r"^user=(.*)$", text, re.M) == ["execlog"] * text.count("[program:")
    text = re.sub(r"^user=execlog$", f"user={getpass.getuser()}", text, flags=re.M)
    text = text.replace("/var/log/", f"{root}/var/log/")
    (root / "execlog.conf").write_text(text, encoding="utf-8")
    (root / "supervisord.conf").write_text(
        f"[supervisord]\nlogfile={root}/supervisord.log\npidfile={root}/supervisord.pid\n"
        f"[include]\nfiles={root}/execlog.conf\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [SUPERVISOR_PYTHON, "-c", _SUPERVISOR_DUMP, str(root / "supervisord.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    programs: list[dict[str, Any]] = json.loads(out)
    for program in programs:
        program["stdout_logfile"] = program["stdout_logfile"].replace(str(root), "")
    return programs


def test_supervisor_runs_every_process_with_known_settings(
    supervisor_programs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: dict[str, list[str]] = {}
    for program in supervisor_programs:
        service, files, argv = split_pex_command(shlex.split(program["command"]))
        command = parse_cli(service, argv).command.name
        assert command is not None
        commands.setdefault(command, []).append(program["name"])
        env = dict(program["environment"])
        env.update(env_from_files(files))
        load_known_settings(service, env, monkeypatch, where=program["name"])
        assert_rotated(program["stdout_logfile"])
        assert program["stdout_logfile_maxbytes"] == 0, "logrotate owns rotation"
        if command == "migrate":
            assert program["group"] == "execlog-migrate"
            assert not program["autostart"]
        else:
            assert program["group"] == "execlog"
            assert program["autostart"]
            assert program["autorestart"] == "RestartUnconditionally"
            assert program["stopsignal"] == 15
    assert set(commands) == LONG_RUNNING | {"migrate"}
    assert len(commands["worker"]) >= 2
    assert len(commands["migrate"]) == 2


def test_supervisor_workers_differ_by_name_port_and_log(
    supervisor_programs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = [p for p in supervisor_programs if p["command"].endswith(".pex worker")]
    seen = set()
    for program in workers:
        _service, files, _argv = split_pex_command(shlex.split(program["command"]))
        env = {**program["environment"], **env_from_files(files)}
        settings: Any = load_settings("execlog-worker", env, monkeypatch)
        seen.add(
            (settings.worker_hostname, settings.worker_metrics_port, program["stdout_logfile"])
        )
        assert program["killasgroup"]
        assert not program["stopasgroup"], "TERM goes to the main process only"
    for column in range(3):
        assert len({s[column] for s in seen}) == len(workers)


# --- env files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(ENV_DIR.glob("*.example")), ids=lambda p: p.name)
def test_env_example_sets_only_known_settings_with_valid_values(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = path.name.removesuffix(".example")
    service = ENV_FILES.get(name, "execlog-worker")
    env = read_env_file(path)
    if name.startswith("worker-"):
        env = {**read_env_file(ENV_DIR / "log-worker.env.example"), **env}
    load_known_settings(service, env, monkeypatch, where=path.name, allowed=frozenset())
    if name == "log-worker.env":
        assert not {"WORKER_HOSTNAME", "WORKER_METRICS_PORT"} & set(env), "these are per worker"


def test_api_and_log_worker_share_the_token_and_address(monkeypatch: pytest.MonkeyPatch) -> None:
    api: Any = load_settings("execlog-api", read_env_file(ENV_DIR / "api.env.example"), monkeypatch)
    worker: Any = load_settings(
        "execlog-worker", read_env_file(ENV_DIR / "log-worker.env.example"), monkeypatch
    )
    assert api.log_api_token.get_secret_value() == worker.log_api_token.get_secret_value() != ""
    assert api.log_worker_url == f"http://{worker.api_host}:{worker.api_port}"
    assert api.broker_url == worker.broker_url
    assert api.broker_key_prefix == worker.broker_key_prefix
    assert worker.flower_basic_auth is not None


# --- logrotate -----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")
def test_logrotate_rotates_in_place_with_copytruncate(tmp_path: Path) -> None:
    text = LOGROTATE.read_text(encoding="utf-8")
    assert re.search(r"^\s+copytruncate$", text, re.M)
    assert logrotate_globs() == ["/var/log/celery/*.log", "/var/log/execlog/*.log"]
    user = getpass.getuser()
    group = grp.getgrgid(os.getgid()).gr_name
    text = text.replace("/var/log/", f"{tmp_path}/log/")
    text = re.sub(r"^(\s+)su execlog execlog$", rf"\1su {user} {group}", text, flags=re.M)
    config = tmp_path / "execlog.logrotate"
    config.write_text(text, encoding="utf-8")
    config.chmod(0o644)
    logs = []
    for sub, name in (("celery", "logs1.log"), ("execlog", "api.log")):
        (tmp_path / "log" / sub).mkdir(parents=True)
        log = tmp_path / "log" / sub / name
        log.write_text("line\n" * 100, encoding="utf-8")
        logs.append(log)
    with logs[0].open("a", encoding="utf-8") as still_open:
        result = subprocess.run(
            ["logrotate", "--force", "--state", str(tmp_path / "state"), str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        still_open.write("after rotation\n")
    for log in logs:
        rotated = [p for p in log.parent.iterdir() if p.name.startswith(log.name + "-")]
        assert len(rotated) == 1, sorted(p.name for p in log.parent.iterdir())
        assert rotated[0].read_text(encoding="utf-8") == "line\n" * 100
    assert logs[0].read_text(encoding="utf-8") == "after rotation\n"
    assert logs[1].stat().st_size == 0


# --- shell scripts -------------------------------------------------------------------------------


def shell_scripts(root: Path = REPO) -> list[Path]:
    candidates = [*(root / "deploy").rglob("*"), *(root / "services").glob("*/scripts/*")]
    scripts = []
    for path in candidates:
        if not path.is_file() or is_build_file(path):
            continue
        head = path.read_bytes()[:64]
        if path.suffix == ".sh" or re.match(rb"#!\s*/(usr/)?bin/(env )?(ba)?sh\b", head):
            scripts.append(path)
    return sorted(scripts)


SCRIPTS = shell_scripts()


def test_the_expected_scripts_are_found() -> None:
    found = {p.relative_to(REPO).as_posix() for p in SCRIPTS}
    assert {
        "deploy/compose/initdb/10-create-databases.sh",
        "deploy/supervisor/execlog-env-exec",
    } <= found


def test_every_script_and_host_file_of_the_work_tree_is_checked() -> None:
    """Under Pants only declared dependencies are in the sandbox: none may be missing there."""
    in_tree = {p.relative_to(WORK_TREE).as_posix() for p in shell_scripts(WORK_TREE)}
    assert in_tree == {p.relative_to(REPO).as_posix() for p in SCRIPTS}, "see tests/deploy/BUILD"
    for directory in (SYSTEMD, SUPERVISOR_CONF.parent, ENV_DIR, LOGROTATE.parent):
        relative = directory.relative_to(REPO)
        assert [p.name for p in deploy_files(WORK_TREE / relative)] == [
            p.name for p in deploy_files(directory)
        ], f"{relative}: files missing from this test's dependencies (tests/deploy/BUILD)"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shell_script_parses_with_bash_n(path: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK), f"{path.name} is not executable"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shell_script_passes_shellcheck(path: Path) -> None:
    result = subprocess.run(
        ["shellcheck", "--severity=style", "--external-sources", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def run_env_exec(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENV_EXEC), *args], capture_output=True, text=True, timeout=30, check=False, env=env
    )


def test_env_exec_exports_files_in_order_and_execs(tmp_path: Path) -> None:
    first = tmp_path / "a.env"
    first.write_text('# comment\nA="one two"\nB=1\n\n', encoding="utf-8")
    second = tmp_path / "b.env"
    second.write_text("B=2\n", encoding="utf-8")
    result = run_env_exec(
        str(first),
        f"-{tmp_path / 'missing.env'}",
        str(second),
        "--",
        "sh",
        "-c",
        'printf "%s|%s" "$A" "$B"; exit 7',
        env={"PATH": os.environ["PATH"]},
    )
    assert result.returncode == 7, "the command's own exit status"
    a_value, b_value = result.stdout.split("|")
    assert (a_value, b_value) == ("one two", "2")


def test_env_exec_fails_on_a_missing_required_file_or_bad_usage(tmp_path: Path) -> None:
    missing = run_env_exec(str(tmp_path / "nope.env"), "--", "true")
    assert missing.returncode == 66
    assert "nope.env" in missing.stderr
    usage = run_env_exec(str(tmp_path / "nope.env"))
    assert usage.returncode == 64
    assert "usage:" in usage.stderr
