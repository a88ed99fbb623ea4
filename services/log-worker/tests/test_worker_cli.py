"""The execlog-worker CLI and the deploy scripts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson
import pytest
from click.testing import CliRunner
from worker_testkit import fetch, spawn_worker, stop_group

from execlog_schema.codec import batch_to_wire
from execlog_worker import __version__
from execlog_worker.cli import main
from execlog_worker.settings import Settings, get_settings

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture()
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    values = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.broker_url,
        "BROKER_KEY_PREFIX": settings.broker_key_prefix,
        "LOG_FORMAT": "console",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


def test_worker_cli_version_and_module_entry(pythonpath_env: dict[str, str]) -> None:
    assert CliRunner().invoke(main, ["--version"]).output.strip().endswith(__version__)
    out = subprocess.run(
        [sys.executable, "-m", "execlog_worker", "--version"],
        env=pythonpath_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert __version__ in out.stdout


def test_worker_cli_concurrent_migrate(
    env: dict[str, str], pythonpath_env: dict[str, str], settings: Settings
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "execlog_worker", "migrate"],
            env={**pythonpath_env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
        assert "migrations: at head" in out
    rows = asyncio.run(
        fetch(settings.asyncpg_dsn, "SELECT version_num FROM alembic_version_log_worker")
    )
    assert [r["version_num"] for r in rows] == ["0002"]
    parts = CliRunner().invoke(main, ["partitions", "list"])
    assert f"execution_logs_p{datetime.now(UTC):%Y%m%d}" in parts.output
    assert CliRunner().invoke(main, ["migrate"]).exit_code == 0


def test_worker_cli_retention(env: dict[str, str], settings: Settings) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    old = datetime.now(UTC) - timedelta(days=45)
    assert runner.invoke(main, ["partitions", "ensure"]).exit_code == 0

    async def old_partition() -> None:
        from execlog_worker.ops.partitions import ensure_partitions

        conn = await asyncpg.connect(settings.asyncpg_dsn)
        try:
            await ensure_partitions(conn, days_ahead=0, days_behind=0, today=old.date())
        finally:
            await conn.close()

    asyncio.run(old_partition())
    dry = runner.invoke(main, ["retention", "--older-than", "30d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would drop 1 partition(s) (execution_logs_p{old:%Y%m%d})" in dry.output
    done = runner.invoke(main, ["retention", "--older-than", "30d"])
    assert f"dropped 1 partition(s) (execution_logs_p{old:%Y%m%d})" in done.output
    bad = runner.invoke(main, ["retention", "--older-than", "thirty days"])
    assert bad.exit_code == 2
    assert "bad age" in bad.output


def test_worker_cli_dlq_list_and_replay_after_fix(
    env: dict[str, str], settings: Settings, make_batch: Any
) -> None:
    from execlog_worker.ingest.batch import dead_letter, ingest
    from execlog_worker.ingest.pool import create_pool
    from execlog_worker.ingest.writer import LogWriter

    runner = CliRunner()
    assert runner.invoke(main, ["migrate", "--skip-partitions"]).exit_code == 0
    good = batch_to_wire(make_batch(3))
    bad = batch_to_wire(make_batch(1))
    bad["schema_version"] = "2.0"

    async def seed() -> None:
        pool = await create_pool(settings)
        try:
            writer = LogWriter(pool)
            # A valid batch whose write failed for good (e.g. a constraint, since fixed).
            await dead_letter(
                good,
                writer,
                reason="write failed (permanent error): DataError",
                batch_id=None,
                kind="write_failed",
                source="task",
            )
            await ingest(bad, writer)
        finally:
            await pool.close()

    asyncio.run(seed())
    listed = runner.invoke(main, ["dlq", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = orjson.loads(listed.output)
    assert [r["kind"] for r in rows] == ["write_failed", "invalid"]
    assert "unsupported schema_version" in rows[1]["reason"]

    replayed = runner.invoke(main, ["dlq", "replay", "--all"])
    assert replayed.exit_code == 1
    assert f"{rows[0]['id']}\twritten\t3 new" in replayed.output
    assert f"{rows[1]['id']}\trejected" in replayed.output
    still_open = orjson.loads(runner.invoke(main, ["dlq", "list", "--json"]).output)
    assert [r["id"] for r in still_open] == [rows[1]["id"]]
    assert still_open[0]["occurrences"] == 2
    assert runner.invoke(main, ["dlq", "replay"]).exit_code == 2
    count = asyncio.run(fetch(settings.asyncpg_dsn, "SELECT count(*) AS n FROM execution_logs"))
    assert count[0]["n"] == 3


def test_worker_cli_refuses_bad_config_and_flower_without_auth(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    get_settings.cache_clear()
    flower = runner.invoke(main, ["flower"])
    assert flower.exit_code == 1
    assert "FLOWER_BASIC_AUTH" in flower.output
    monkeypatch.delenv("LOG_API_TOKEN", raising=False)
    get_settings.cache_clear()
    assert "LOG_API_TOKEN" in runner.invoke(main, ["api"]).output
    monkeypatch.setenv("BROKER_VISIBILITY_TIMEOUT", "60")
    get_settings.cache_clear()
    bad = runner.invoke(main, ["migrate"])
    assert bad.exit_code == 1
    assert "BROKER_VISIBILITY_TIMEOUT" in bad.output
    monkeypatch.delenv("BROKER_VISIBILITY_TIMEOUT")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    get_settings.cache_clear()
    down = runner.invoke(main, ["dlq", "list"])
    assert down.exit_code == 1
    assert "unreachable" in down.output


def test_worker_cli_unreachable_broker_logs_clearly(
    pythonpath_env: dict[str, str], settings: Settings, free_port: int, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    env = {
        **pythonpath_env,
        "REDIS_URL": f"redis://127.0.0.1:{free_port}/0",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port}/nowhere",
        "LOG_FORMAT": "json",
    }
    proc = spawn_worker(env, log_path, "--concurrency=1")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log_path.read_text(errors="replace").count("Trying again") >= 2:
                break
            time.sleep(0.3)
        assert proc.poll() is None
    finally:
        stop_group(proc, grace=15)
    text = log_path.read_text(errors="replace")
    assert "partition ensure at start failed" in text
    assert "Cannot connect to redis://" in text
    assert "Connection refused" in text
    assert "Trying again" in text
    assert "Traceback" not in text


def _fake_bin(tmp_path: Path) -> Path:
    fake = tmp_path / "fake-execlog-worker"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    return fake


def test_worker_cli_start_scripts_pass_their_documented_flags(tmp_path: Path) -> None:
    fake = _fake_bin(tmp_path)
    base = {"PATH": os.environ["PATH"], "EXECLOG_WORKER_BIN": str(fake)}
    out = subprocess.run(
        ["bash", str(SCRIPTS / "start_celery_worker.sh"), "--without-gossip"],
        env={**base, "WORKER_MAX_MEMORY_PER_CHILD": "200000", "WORKER_CONCURRENCY": "2"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [
        "worker",
        "--queues=logs",
        "--concurrency=2",
        "--pool=prefork",
        "--hostname=logs@%h",
        "--max-tasks-per-child=1000",
        "--loglevel=info",
        "--max-memory-per-child=200000",
        "--without-gossip",
    ]
    refused = subprocess.run(
        ["bash", str(SCRIPTS / "start_flower.sh")], env=base, capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "FLOWER_BASIC_AUTH" in refused.stderr
    flower = subprocess.run(
        ["bash", str(SCRIPTS / "start_flower.sh")],
        env={**base, "FLOWER_BASIC_AUTH": "admin:s3cret", "FLOWER_PORT": "5566"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert flower == ["flower", "--port=5566", "--address=127.0.0.1"]
    assert "s3cret" not in " ".join(flower)


def test_worker_cli_flower_behind_basic_auth(
    pythonpath_env: dict[str, str], settings: Settings, free_port: int, tmp_path: Path
) -> None:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "execlog_worker", "flower", f"--port={free_port}"],
        env={
            **pythonpath_env,
            "FLOWER_BASIC_AUTH": "admin:pw",
            "REDIS_URL": settings.broker_url,
            "BROKER_KEY_PREFIX": settings.broker_key_prefix,
        },
        stdout=(tmp_path / "flower.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{free_port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                anonymous = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "flower.log").read_text()
                time.sleep(0.3)
        assert anonymous.status_code == 401
        assert httpx.get(url, auth=("admin", "wrong"), timeout=5).status_code == 401
        assert httpx.get(url, auth=("admin", "pw"), timeout=5).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_worker_cli_check_runs_the_startup_checks_only(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_API_TOKEN", "t")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "admin:pw")
    get_settings.cache_clear()
    runner = CliRunner()
    expected = {
        "worker": "worker: ok (database driver: asyncpg; broker transport: redis; celery worker "
        "options: worker --queues=logs --pool=prefork",
        "api": "api: ok (database driver: asyncpg; app: execlog_worker.api.app:create_app)",
        "flower": "flower: ok (broker transport: redis; flower: flower.command:flower)",
        "migrate": "migrate: ok (database driver: asyncpg; migrations: ",
    }
    for command, start in expected.items():
        done = runner.invoke(main, [command, "--check"])
        assert done.exit_code == 0, (command, done.output)
        assert done.output.startswith(start), done.output


def test_worker_cli_check_rejects_what_celery_would_reject(env: dict[str, str]) -> None:
    runner = CliRunner()
    for args, message in (
        (["--no-such-option"], "No such option '--no-such-option'"),
        (["--loglevel=LOUD"], "'LOUD' is not one of"),
        (["-O", "sometimes"], "'sometimes' is not one of"),
    ):
        done = runner.invoke(main, ["worker", *args, "--check"])
        assert done.exit_code == 1, (args, done.output)
        assert done.output.startswith("Error: worker: celery worker options: ValueError: "), args
        assert message in done.output, done.output


def test_worker_cli_a_missing_driver_stops_each_command_with_one_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_API_TOKEN", "t")
    # What a build without asyncpg does: the import by name fails.
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    get_settings.cache_clear()
    for command in ("worker", "api", "migrate"):
        done = CliRunner().invoke(main, [command])
        assert done.exit_code == 1, (command, done.output)
        assert done.output.splitlines() == [
            f"Error: {command}: database driver: module 'asyncpg' is not installed "
            "(this build lacks a dependency)"
        ]
