"""deploy/compose: docker-compose.yml, the Dockerfiles and the database init script.

The compose file is parsed (anchors and merges resolved, ${VAR:-default} interpolated) and
checked against the code: every env var is a setting of the service whose image runs it and every
value parses; every command and healthcheck command is a real CLI command with real options; the
ports are the services' ports; depends_on and healthchecks reference real services and the right
conditions (one-shot migrations: service_completed_successfully). The Dockerfiles build from the
PEX files Pants writes. The init script runs for real against the local PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_testkit import (
    DEPLOYED_COMMANDS,
    ENTRYPOINT,
    REPO,
    WORK_TREE,
    env_names,
    load_known_settings,
    load_settings,
    parse_cli,
    service_of_image,
    settings_class,
)

COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
INIT_SCRIPT = COMPOSE_DIR / "initdb" / "10-create-databases.sh"

IMAGES = {
    "execlog-api": {
        "dockerfile": "deploy/compose/api.Dockerfile",
        "pex": "dist/services.api/execlog-api.pex",
        "build_file": "services/api/BUILD",
    },
    "execlog-worker": {
        "dockerfile": "deploy/compose/log-worker.Dockerfile",
        "pex": "dist/services.log-worker/execlog-worker.pex",
        "build_file": "services/log-worker/BUILD",
    },
}
DOCUMENTED_PORTS = {
    "api": 8000,
    "postgres": 5432,
    "redis": 6379,
    "log-worker-api": 8001,
    "flower": 5555,
}


# --- helpers -----------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} interpolation."""

    def repl(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if op in (":-", "-"):
            empty = current is None or (op == ":-" and current == "")
            return arg if empty else str(current)
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise AssertionError(f"${{{name}}} is required: {arg}")
            return current
        return current or ""

    assert "$$" not in value, "no escaped dollars expected"
    return _VAR.sub(repl, value)


def deep_interpolate(obj: Any, env: Mapping[str, str]) -> Any:
    if isinstance(obj, str):
        return interpolate(obj, env)
    if isinstance(obj, list):
        return [deep_interpolate(i, env) for i in obj]
    if isinstance(obj, dict):
        return {k: deep_interpolate(v, env) for k, v in obj.items()}
    return obj


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    assert isinstance(raw, dict)
    result = deep_interpolate(raw, env or {})
    assert isinstance(result, dict)
    return result


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=value: {line!r}"
        values[key.strip()] = value.strip().strip('"')
    return values


COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def own_services() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, service in SERVICES.items():
        image = service_of_image(service.get("image", ""))
        if image is not None:
            yield name, image, service


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of environment"
    return {k: str(v) for k, v in env.items()}


def http_probe(test: list[str]) -> tuple[int, str]:
    """(port, path) of a ``python3.11 -c "...urlopen('http://127.0.0.1:PORT/PATH')"`` probe."""
    assert test[:3] == ["CMD", "python3.11", "-c"], test
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[a-z]+)", test[3])
    assert match, test
    compile(test[3], "<healthcheck>", "exec")
    return int(match.group(1)), match.group(2)


def dockerfile(image: str) -> str:
    return (REPO / IMAGES[image]["dockerfile"]).read_text(encoding="utf-8")


# --- tests -------------------------------------------------------------------------------------


def test_compose_has_the_documented_services_and_ports() -> None:
    assert COMPOSE["name"] == "execlog"
    for name, port in DOCUMENTED_PORTS.items():
        published = [str(p) for p in SERVICES[name].get("ports", [])]
        assert published == [f"{port}:{port}"], name
    assert {"api-migrate", "log-worker-migrate", "log-worker"} <= set(SERVICES)


def test_every_variable_the_compose_file_reads_is_in_env_example() -> None:
    used = set(_VAR.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    names = {m[0] for m in used}
    example = read_env_file(ENV_EXAMPLE)
    assert names <= set(example), f"missing in .env.example: {sorted(names - set(example))}"
    assert set(example) <= names, f"unused in .env.example: {sorted(set(example) - names)}"


def test_depends_on_references_real_services_with_valid_conditions() -> None:
    for name, service in SERVICES.items():
        deps = service.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: use the long form of depends_on"
        for dep, spec in deps.items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            assert dep != name
            condition = spec["condition"]
            target = SERVICES[dep]
            if condition == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dep}, which has no healthcheck"
            elif condition == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dep} is not a one-shot service"
            else:
                assert condition == "service_started", condition
            assert "profiles" not in target or "profiles" in service, f"{name} -> {dep}"

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"dependency cycle {' -> '.join((*path, node))}"
        for dep in SERVICES[node].get("depends_on", {}):
            visit(dep, (*path, node))

    for name in SERVICES:
        visit(name, ())


def test_migrations_are_one_shot_and_gate_their_services() -> None:
    migrations = {
        image: name
        for name, image, service in own_services()
        if service.get("command") == ["migrate"]
    }
    assert set(migrations) == set(IMAGES)
    for name in migrations.values():
        assert SERVICES[name]["restart"] == "no"
        assert SERVICES[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name, image, service in own_services():
        if service.get("command") in (["migrate"], ["flower"]):
            continue
        deps = service["depends_on"]
        assert deps[migrations[image]] == {"condition": "service_completed_successfully"}, name


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") == "no":
            continue
        assert service.get("restart") == "unless-stopped", name
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout"):
            assert re.fullmatch(r"\d+s", check[key]), f"{name}: {key}"


def test_every_command_and_healthcheck_is_a_real_cli_command() -> None:
    seen: set[str] = set()
    for _name, image, service in own_services():
        ctx = parse_cli(image, list(service["command"]))
        assert ctx.command.name is not None
        seen.add(f"{image} {ctx.command.name}")
        test = service.get("healthcheck", {}).get("test", [])
        if test[1:2] == [ENTRYPOINT]:
            parse_cli(image, test[2:])
    assert seen >= DEPLOYED_COMMANDS


def test_every_env_var_is_a_known_setting_with_a_valid_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, image, service in own_services():
        env = environment(service)
        load_known_settings(image, env, monkeypatch, where=name)


def test_http_ports_and_healthchecks_match_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    expected_paths = {"serve": "/healthz", "api": "/healthz", "flower": "/healthcheck"}
    fields = {"serve": ("host", "port"), "api": ("api_host", "api_port")}
    fields["flower"] = ("flower_address", "flower_port")
    checked = set()
    for name, image, service in own_services():
        command = service["command"][0]
        if command not in expected_paths:
            continue
        settings = load_settings(image, environment(service), monkeypatch)
        host_field, port_field = fields[command]
        port = int(getattr(settings, port_field))
        all_interfaces = "0.0.0.0"  # noqa: S104
        assert getattr(settings, host_field) == all_interfaces, f"{name} must listen on all"
        assert http_probe(service["healthcheck"]["test"]) == (port, expected_paths[command])
        assert [str(p) for p in service["ports"]] == [f"{port}:{port}"]
        assert str(port) in re.findall(r"EXPOSE ([\d ]+)", dockerfile(image))[0].split()
        checked.add(name)
    assert checked == {"api", "log-worker-api", "flower"}


def test_redis_persists_with_aof_and_requires_its_password() -> None:
    command = [str(c) for c in SERVICES["redis"]["command"]]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    password = options["--requirepass"]
    assert SERVICES["redis"]["environment"]["REDISCLI_AUTH"] == password
    assert SERVICES["redis"]["volumes"] == ["redisdata:/data"]
    for name, _image, service in own_services():
        url = environment(service).get("REDIS_URL")
        if url is not None:
            assert url == f"redis://:{password}@redis:6379/0", name


def test_each_service_uses_its_own_database_created_by_the_init_script() -> None:
    pg_env = environment(SERVICES["postgres"])
    assert "./initdb:/docker-entrypoint-initdb.d:ro" in SERVICES["postgres"]["volumes"]
    wanted = {"execlog-api": "EXECLOG_API_DB", "execlog-worker": "EXECLOG_LOGS_DB"}
    for name, image, service in own_services():
        url = environment(service).get("DATABASE_URL")
        if url is None:
            continue
        prefix = wanted[image]
        expected = (
            f"postgresql://{pg_env[prefix + '_USER']}:{pg_env[prefix + '_PASSWORD']}"
            f"@postgres:5432/{pg_env[prefix]}"
        )
        assert url == expected, name
    assert pg_env["EXECLOG_API_DB"] != pg_env["EXECLOG_LOGS_DB"]


def test_api_spool_is_on_a_named_volume() -> None:
    api = SERVICES["api"]
    spool = environment(api)["LOG_SPOOL_DIR"]
    assert f"api-spool:{spool}" in api["volumes"]
    assert "api-spool" in COMPOSE["volumes"]
    assert f"LOG_SPOOL_DIR={spool}" in dockerfile("execlog-api").replace(" ", "")


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfile_runs_the_pants_pex_on_python_slim(image: str) -> None:
    text = dockerfile(image)
    pex = IMAGES[image]["pex"]
    pex_name = pex.rsplit("/", 1)[-1]
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert f"COPY --chmod=0755 {pex} /app/{pex_name}" in text
    assert f"PEX_ROOT=/opt/pex python3.11 /app/{pex_name} --help" in text
    assert 'ln -s "$1" /app/venv' in text
    assert f'ENTRYPOINT ["{ENTRYPOINT}"]' in text
    assert re.search(r"^USER execlog", text, re.M)
    ignore = (REPO / (IMAGES[image]["dockerfile"] + ".dockerignore")).read_text(encoding="utf-8")
    assert f"!{pex}" in ignore.splitlines()
    assert "*" in ignore.splitlines()
    for _name, img, service in own_services():
        if img == image:
            assert service["build"] == {
                "context": "../..",
                "dockerfile": IMAGES[image]["dockerfile"],
            }


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_pex_path_is_where_pants_writes_it(image: str) -> None:
    # BUILD files are never in a Pants sandbox: read the work tree's.
    build = WORK_TREE / IMAGES[image]["build_file"]
    service_dir = IMAGES[image]["build_file"].rsplit("/", 1)[0]
    names = re.findall(r'pex_binary\(\s*name="([^"]+)"', build.read_text(encoding="utf-8"))
    assert [f"dist/{service_dir.replace('/', '.')}/{n}.pex" for n in names] == [
        IMAGES[image]["pex"]
    ]


def _psql(*args: str, env: Mapping[str, str]) -> str:
    return subprocess.run(
        ["psql", "--no-psqlrc", "-X", "-At", "-v", "ON_ERROR_STOP=1", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_init_script_creates_both_databases_idempotently() -> None:
    server = {
        "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
    }
    try:
        _psql("-d", "postgres", "-c", "SELECT 1", env=server)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no PostgreSQL at {server['PGHOST']}:{server['PGPORT']}: {exc}")
    tag = uuid.uuid4().hex[:10]
    names = {
        "EXECLOG_API_DB": f"t_api_{tag}",
        "EXECLOG_API_DB_USER": f"t_api_{tag}",
        "EXECLOG_API_DB_PASSWORD": "it's a secret",
        "EXECLOG_LOGS_DB": f"t_logs_{tag}",
        "EXECLOG_LOGS_DB_USER": f"t_logs_{tag}_owner",
        "EXECLOG_LOGS_DB_PASSWORD": "another",
    }
    env = {**server, **names, "POSTGRES_USER": server["PGUSER"], "POSTGRES_DB": "postgres"}
    try:
        for _ in range(2):
            subprocess.run(
                ["bash", str(INIT_SCRIPT)],
                env={**os.environ, **env},
                capture_output=True,
                timeout=60,
                check=True,
            )
        for prefix in ("EXECLOG_API_DB", "EXECLOG_LOGS_DB"):
            owner = _psql(
                "-d",
                "postgres",
                "-c",
                "SELECT pg_get_userbyid(datdba) FROM pg_database"
                f" WHERE datname = '{names[prefix]}'",
                env=server,
            ).strip()
            assert owner == names[prefix + "_USER"]
            who = _psql(
                "-d",
                names[prefix],
                "-U",
                names[prefix + "_USER"],
                "-c",
                "CREATE TABLE t (x int); SELECT current_user",
                env=server,
            ).strip()
            assert who.splitlines()[-1] == names[prefix + "_USER"]
    finally:
        for prefix in ("EXECLOG_API_DB", "EXECLOG_LOGS_DB"):
            _psql(
                "-d",
                "postgres",
                "-c",
                f'DROP DATABASE IF EXISTS "{names[prefix]}" WITH (FORCE)',
                "-c",
                f'DROP ROLE IF EXISTS "{names[prefix + "_USER"]}"',
                env=server,
            )


def test_init_script_refuses_to_run_without_passwords(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run(
        [bash, str(INIT_SCRIPT)],
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "EXECLOG_API_DB_PASSWORD is required" in result.stderr


def test_api_reaches_the_log_worker_api_with_the_shared_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api: Any = load_settings("execlog-api", environment(SERVICES["api"]), monkeypatch)
    log_api: Any = load_settings(
        "execlog-worker", environment(SERVICES["log-worker-api"]), monkeypatch
    )
    assert api.log_worker_url == f"http://log-worker-api:{log_api.api_port}"
    token = api.log_api_token.get_secret_value()
    assert token
    assert token == log_api.log_api_token.get_secret_value()
    flower: Any = load_settings("execlog-worker", environment(SERVICES["flower"]), monkeypatch)
    assert flower.flower_basic_auth is not None, "the flower command refuses to run without it"
    assert api.broker_url == log_api.broker_url == flower.broker_url


def test_scaled_workers_are_distinct_celery_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = {}
    for name in ("log-worker", "log-worker-bulk"):
        service = SERVICES[name]
        settings: Any = load_settings("execlog-worker", environment(service), monkeypatch)
        params = parse_cli("execlog-worker", list(service["command"])).params
        assert params.get("hostname") is None, "the node name comes from WORKER_HOSTNAME"
        assert settings.worker_hostname.endswith("@%h"), "one node per container (--scale)"
        assert int(params["max_memory_per_child"]) > 0
        assert int(params["concurrency"]) > 0
        nodes[name] = settings.worker_hostname
    assert len(set(nodes.values())) == 2
    assert SERVICES["log-worker-bulk"]["profiles"] == ["workers"]


# --- the Sentinel overlay ------------------------------------------------------------------------

SENTINEL_FILE = COMPOSE_DIR / "docker-compose.sentinel.yml"


def load_sentinel_overlay() -> dict[str, Any]:
    with SENTINEL_FILE.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    result = deep_interpolate(raw, {})
    assert isinstance(result, dict)
    return result


def merged_service(name: str) -> dict[str, Any]:
    """A service of docker-compose.yml with the Sentinel overlay applied (compose merge rules)."""
    base = dict(SERVICES.get(name, {}))
    over = load_sentinel_overlay()["services"][name]
    for key, value in over.items():
        if key == "environment":
            base[key] = {**base.get(key, {}), **value}
        else:
            base[key] = value
    return base


def test_sentinel_overlay_topology_is_consistent() -> None:
    overlay = load_sentinel_overlay()["services"]
    sentinels = {n: s for n, s in overlay.items() if n.startswith("redis-sentinel-")}
    assert len(sentinels) >= 3
    assert len(sentinels) % 2 == 1
    script = COMPOSE_DIR / "sentinel" / "sentinel-entrypoint.sh"
    assert script.is_file()
    for name, sentinel in sentinels.items():
        assert sentinel["entrypoint"][-1] == "/sentinel/" + script.name
        assert "./sentinel:/sentinel:ro" in sentinel["volumes"]
        env = sentinel["environment"]
        assert int(env["SENTINEL_QUORUM"]) == len(sentinels) // 2 + 1
        assert env["SENTINEL_MASTER_HOST"] in SERVICES
        assert env["SENTINEL_MASTER_NAME"] in " ".join(sentinel["healthcheck"]["test"]), name
    for name in overlay:
        for dep in merged_service(name).get("depends_on", {}):
            assert dep in SERVICES or dep in overlay, f"{name} depends on unknown {dep}"
    for name in ("redis", "redis-replica"):
        command = [str(c) for c in merged_service(name)["command"]]
        options = dict(zip(command[1::2], command[2::2], strict=False))
        assert options["--appendonly"] == "yes"
        assert options["--requirepass"] == options["--masterauth"]
    replica = [str(c) for c in overlay["redis-replica"]["command"]]
    assert replica[replica.index("--replicaof") + 1] == "redis"


def test_sentinel_overlay_configures_every_own_service(monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = load_sentinel_overlay()["services"]
    sentinel_env = next(s for n, s in overlay.items() if n.startswith("redis-sentinel-"))
    master = sentinel_env["environment"]["SENTINEL_MASTER_NAME"]
    sentinels = {n for n in overlay if n.startswith("redis-sentinel-")}
    own = {name for name, _image, _service in own_services()}
    assert own <= set(overlay), f"not switched to Sentinel: {sorted(own - set(overlay))}"
    for name in sorted(own):
        image = service_of_image(SERVICES[name].get("image", ""))
        assert image is not None
        env = environment(merged_service(name))
        hosts = re.findall(r"sentinel://(?::[^@]*@)?([^:;/]+):26379", env["REDIS_URL"])
        assert set(hosts) == sentinels
        assert env["REDIS_SENTINEL_MASTER"] == master
        known = env_names(settings_class(image))
        assert "REDIS_SENTINEL_MASTER" in known, (
            f"{image} has no Sentinel setting (REDIS_SENTINEL_MASTER, the kombu transport "
            "option master_name): Redis Sentinel is not supported by the service yet"
        )
        load_settings(image, env, monkeypatch)
