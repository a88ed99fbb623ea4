"""The service PEXes as ``./pants package`` builds them, run the way the deploy files run them.

Pants builds ``execlog-api.pex``, ``execlog-worker.pex`` and the local stack's ``up.pex`` into
this test's sandbox in ``dist/``'s layout (``runtime_package_dependencies``). Every service
process here is one of those PEXes, run as an executable with nothing of this test's path in
its environment: ``--version``, ``migrate`` twice, then ``serve`` / ``worker`` / ``api`` /
``flower`` with the command lines of the systemd units, and one execution whose logs travel
through the queue and are read back through the API; the worker's start scripts run the PEX
(``EXECLOG_WORKER_BIN``) with ``--check``. Finally ``up.pex --pex`` starts the same
system the way ``docs/operations.md`` tells an operator to run what is deployed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from execlog_db.url import to_asyncpg_dsn
from execlog_stack.services import API_PEX, WORKER_PEX, Launcher
from execlog_stack.stack import Stack, StackConfig
from execlog_stack.waiting import async_wait_for

pytestmark = pytest.mark.timeout(300)

DIST = Path.cwd()
"""Where runtime_package_dependencies put the artifacts: ``dist/``'s layout, in the sandbox."""

UP_PEX = DIST / "deploy.local" / "up.pex"
SYSTEMD = Path("deploy/systemd")
SCRIPTS = Path("services/log-worker/scripts")
VERSION_LINE = re.compile(r"^execlog-(api|worker), version (\d+\.\d+\.\d+)$")


def pex_env(**settings: str) -> dict[str, str]:
    """A PEX's environment: PATH, HOME and ``settings``; nothing that points at sources."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


def run_pex(pex: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(pex), *args], env=dict(env), capture_output=True, text=True, timeout=180, check=False
    )


def systemd_command(unit: str) -> list[str]:
    """The ``ExecStart`` of ``deploy/systemd/<unit>``: the PEX's file name, then its arguments."""
    for line in (SYSTEMD / unit).read_text().splitlines():
        if line.startswith("ExecStart="):
            program, *args = shlex.split(line.removeprefix("ExecStart="))
            return [Path(program).name, *args]
    raise AssertionError(f"{unit} has no ExecStart")


async def public_tables(database_url: str) -> set[str]:
    conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


@pytest.fixture(scope="module")
def launcher() -> Launcher:
    return Launcher.from_pex(DIST)


def test_the_pexes_say_their_version_without_sources(launcher: Launcher) -> None:
    for (pex,), name in ((launcher.api, "api"), (launcher.worker, "worker")):
        done = run_pex(Path(pex), "--version", env=pex_env())
        assert done.returncode == 0, done.stderr
        match = VERSION_LINE.match(done.stdout.strip())
        assert match is not None, done.stdout
        assert match.group(1) == name, done.stdout


@pytest.mark.parametrize("service", ["api", "worker"])
def test_migrate_from_the_pex_is_idempotent(
    launcher: Launcher, service: str, database_url: str
) -> None:
    (pex,) = launcher.api if service == "api" else launcher.worker
    env = pex_env(DATABASE_URL=database_url, LOG_FORMAT="console")
    first = run_pex(Path(pex), "migrate", env=env)
    second = run_pex(Path(pex), "migrate", env=env)
    for done in (first, second):
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    tables = asyncio.run(public_tables(database_url))
    if service == "api":
        assert {"executions", "execution_steps"} <= tables, tables
        assert "to head" in second.stdout
    else:
        assert {"execution_logs", "execution_log_rejects"} <= tables, tables
        assert "migrations: at head" in second.stdout
        assert "partitions: 0 created" in second.stdout, second.stdout


@pytest.fixture()
def pex_stack(launcher: Launcher, tmp_path: Path) -> Iterator[Stack]:
    config = StackConfig(
        workdir=tmp_path / "stack",
        database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL"),
        flower=True,
        launcher=launcher,
        api_env={"LOG_FLUSH_INTERVAL": "0.2", "LOG_HTTP_FALLBACK": "false"},
        api_stop_grace=30.0,
    )
    with Stack(config) as stack:
        yield stack


def metric_value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_one_execution_through_the_queue_with_pex_processes_only(pex_stack: Stack) -> None:
    stack = pex_stack
    # Every process is a PEX started with its systemd unit's command line.
    expected = {
        "api": systemd_command("execlog-api.service"),
        "worker-1": systemd_command("execlog-worker@.service"),
        "log-worker-api": systemd_command("execlog-log-worker-api.service"),
        "flower": systemd_command("execlog-flower.service"),
    }
    procs = [stack.api, *stack.workers, stack.worker_api, stack.flower]
    started = {proc.spec.name: proc.spec for proc in procs if proc is not None}
    assert set(expected) <= set(started), started
    for name, command in expected.items():
        argv = list(started[name].argv)
        assert [Path(argv[0]).name, *argv[1:]] == command, (name, argv)
        assert Path(argv[0]).parent.parent == DIST, argv
        assert not any(
            key.startswith("PYTHON") and key != "PYTHONUNBUFFERED" for key in started[name].env
        )

    steps: list[dict[str, Any]] = [
        {"kind": "echo", "message": "hello from the shipped artifacts", "data": {"n": 1}},
        {"kind": "fail", "fail_times": 1, "max_attempts": 2},
    ]
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=10) as client:
        created = await client.post("/api/v1/executions", json={"name": "pex", "steps": steps})
        assert created.status_code == 202, created.text
        execution_id = uuid.UUID(created.json()["id"])

        async def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get(f"/api/v1/executions/{execution_id}")).json()
            return body if body["status"] in ("succeeded", "failed") else None

        execution = await async_wait_for(finished, timeout=60, what="execution finished")
        assert execution is not None
        assert execution["status"] == "succeeded", execution

        async def stored() -> list[dict[str, Any]] | None:
            response = await client.get(
                f"/api/v1/executions/{execution_id}/logs", params={"limit": 500}
            )
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            done = any(item["message"] == "execution succeeded" for item in items)
            return items if done else None

        found = await async_wait_for(stored, timeout=60, what="the execution's last log line")
        assert found is not None
        items = found
        metrics = (await client.get("/metrics")).text

    messages = [item["message"] for item in items]
    assert "hello from the shipped artifacts" in messages, messages
    assert "fail step passes on attempt 2" in messages, messages
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), "a record was stored twice"
    # They came through the queue: the API published them to the broker, never over HTTP.
    via_broker = metric_value(metrics, "execlog_records_sent_total", route="broker")
    via_http = metric_value(metrics, "execlog_records_sent_total", route="http")
    assert via_broker >= len(items), (via_broker, len(items))
    assert via_http == 0, via_http

    # Flower, from the worker PEX, sees the worker node that wrote them.
    user, password = stack.config.flower_basic_auth.split(":", 1)
    assert stack.flower_url is not None
    async with httpx.AsyncClient(
        base_url=stack.flower_url, auth=(user, password), timeout=10
    ) as flower:

        async def worker_listed() -> bool:
            response = await flower.get("/api/workers", params={"refresh": "1"})
            return response.status_code == 200 and bool(response.json())

        await async_wait_for(worker_listed, timeout=30, what="Flower lists the worker")


@pytest.mark.parametrize("script", ["start_celery_worker.sh", "start_flower.sh"])
def test_the_start_scripts_command_lines_are_accepted_by_the_pex(
    launcher: Launcher, script: str
) -> None:
    (pex,) = launcher.worker
    done = subprocess.run(
        ["bash", str(SCRIPTS / script), "--check"],
        env=pex_env(
            EXECLOG_WORKER_BIN=pex,
            WORKER_MAX_MEMORY_PER_CHILD="200000",
            FLOWER_BASIC_AUTH="admin:pw",
            DATABASE_URL="postgresql://postgres@127.0.0.1:1/unused",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    command = "worker" if script == "start_celery_worker.sh" else "flower"
    assert done.stdout.startswith(f"{command}: ok ("), done.stdout


def test_the_local_stack_pex_runs_the_packaged_services(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(UP_PEX),
            "--pex",
            "--dist",
            str(DIST),
            "--demo",
            "2",
            "--records",
            "10",
            "--no-flower",
            "--api-port",
            "0",
            "--worker-api-port",
            "0",
            "--ephemeral",
            "--workdir",
            str(tmp_path / "stack"),
        ],
        env=pex_env(
            COLUMNS="160",
            DATABASE_URL=os.environ.get("DATABASE_URL", ""),
            REDIS_URL=os.environ.get("REDIS_URL", ""),
        ),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    table = {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("│") for line in output.splitlines())
        if len(cells) >= 4
    }
    assert table.get("services from", "").split() == [
        str((DIST / API_PEX).resolve()),
        str((DIST / WORKER_PEX).resolve()),
    ], output
    assert (table.get("produced"), table.get("stored")) == ("20", "20"), output
    assert (table.get("lost"), table.get("duplicated")) == ("0", "0"), output


def test_the_release_tool_pex_runs(tmp_path: Path) -> None:
    release = DIST / "deploy.release" / "release.pex"
    version = run_pex(release, "--version", env=pex_env())
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("execlog-release, version "), version.stdout
    refused = run_pex(
        release, "affected", "--since", "HEAD", "--repo", str(tmp_path), env=pex_env()
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"Error: {tmp_path} is not an execlog checkout (no ./pants or pants.toml)"
    ]
