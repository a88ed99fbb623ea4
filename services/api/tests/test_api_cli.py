"""The ``execlog-api`` command: --version, migrate (both URL forms, concurrent), serve with a
graceful stop that ships every buffered log (subprocesses)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
from api_testkit import queued_messages, task_batches

from execlog_api import __version__
from execlog_api.db.migrate import migrate
from execlog_db.url import to_async_url, to_asyncpg_dsn
from execlog_schema.codec import decode_batch
from execlog_schema.wire import QUEUE_NAME
from execlog_stack.ports import free_port


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(extra)
    return env


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "execlog_api", *args],
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def tables(database_url: str) -> set[str]:
    conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


def test_api_cli_version_and_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"execlog-api, version {__version__}"
    helped = run_cli("--help")
    assert helped.returncode == 0
    for command in ("serve", "migrate"):
        assert command in helped.stdout


async def test_api_cli_migrate_accepts_both_url_forms(database_url: str) -> None:
    plain = run_cli("migrate", DATABASE_URL=to_asyncpg_dsn(database_url))
    assert plain.returncode == 0, plain.stderr
    assert "to head" in plain.stdout
    assert await tables(database_url) >= {
        "executions",
        "execution_steps",
        "alembic_version_execlog_api",
    }
    again = run_cli("migrate", "--database-url", to_async_url(database_url))
    assert again.returncode == 0, again.stderr


async def test_api_migrate_twice_at_once_is_safe(database_url: str) -> None:
    await asyncio.gather(
        asyncio.to_thread(migrate, database_url), asyncio.to_thread(migrate, database_url)
    )
    assert "executions" in await tables(database_url)


def test_api_cli_migrate_reports_failure() -> None:
    failed = run_cli("migrate", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert failed.returncode == 1
    assert "migration failed" in failed.stderr
    wrong = run_cli("migrate", "--database-url", "mysql://x/y")
    assert wrong.returncode != 0


def test_api_cli_serve_and_graceful_stop_ships_logs(
    database_url: str, redis_url: str, broker_key_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = cli_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        BROKER_KEY_PREFIX=broker_key_prefix,
        LOG_SPOOL_DIR=str(tmp_path / "spool"),
        LOG_FLUSH_INTERVAL="600",
        LOG_WORKER_URL="http://127.0.0.1:9",
        LOG_FORMAT="json",
        SHUTDOWN_GRACE="1",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "execlog_api",
            "serve",
            "--migrate",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        created = httpx.post(
            f"{base}/api/v1/executions",
            json={"steps": [{"kind": "echo", "message": "from serve"}]},
            timeout=10,
        )
        assert created.status_code == 202
        execution_id = created.json()["id"]
        while httpx.get(f"{base}/api/v1/executions/{execution_id}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}") == []
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode in (0, -signal.SIGTERM), output
    assert '"event": "api_stopped"' in output or '"event":"api_stopped"' in output
    records = [
        r
        for wire in task_batches(queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}"))
        for r in decode_batch(wire).records
    ]
    assert [r.message for r in records if r.message == "from serve"] == ["from serve"]
    assert records[-1].message == "execution succeeded"


def test_api_cli_check_names_what_each_command_loads(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    served = run_cli(
        "serve",
        "--check",
        DATABASE_URL="postgresql://u@127.0.0.1:1/db",
        LOG_SPOOL_DIR=str(spool),
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == (
        "serve: ok (database driver: asyncpg; broker transport: redis; "
        f"spool directory: {spool}; app: execlog_api.app:create_app)"
    )
    assert not spool.exists()
    migrated = run_cli("migrate", "--check", DATABASE_URL="postgresql://u@127.0.0.1:1/db")
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip().startswith("migrate: ok (database driver: asyncpg; migrations: ")


def test_api_cli_a_missing_driver_stops_serve_with_one_line(tmp_path: Path) -> None:
    # A sitecustomize that hides asyncpg, as a build without it would: the import fails by name.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['asyncpg'] = None\n")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    for args in (["serve"], ["serve", "--check"], ["migrate"]):
        done = subprocess.run(
            [sys.executable, "-m", "execlog_api", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.splitlines() == [
            f"Error: {args[0]}: database driver: module 'asyncpg' is not installed "
            "(this build lacks a dependency)"
        ], args


def test_api_cli_invalid_setting_is_one_line() -> None:
    done = run_cli("serve", "--check", REDIS_URL="ftp://nowhere")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: invalid configuration: ")
    assert "REDIS_URL must start with" in line
