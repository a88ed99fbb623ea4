"""``execlog-worker`` command line: worker, api, migrate, partitions, retention, dlq, flower.

Every option defaults to its environment variable (Settings); an explicit option wins.
``worker``, ``api``, ``flower`` and ``migrate`` check what they load by name before they start
(database driver, broker transport, Celery's task module and worker options, the app factory,
Flower's entry point, the migration scripts): a missing one is one line and exit status 1;
``--check`` runs only those checks.
Heavy modules are imported inside the commands, so the worker can set
PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from execlog_service.cli import check_option, load_settings, preflight
from execlog_service.settings import log_deprecated_settings
from execlog_service.startup import Check, import_object, load_entry_point
from execlog_worker._version import __version__
from execlog_worker.settings import Settings, get_settings

T = TypeVar("T")

API_FACTORY = "execlog_worker.api.app:create_app"
"""What uvicorn imports by name: the log-worker API's app factory."""


def _settings() -> Settings:
    return load_settings(get_settings)


def _database_check(settings: Settings) -> Check:
    from execlog_db.url import load_driver

    return Check("database driver", lambda: load_driver(settings.database_url))


def _broker_check(settings: Settings) -> Check:
    from execlog_broker.transport import load_transport

    return Check("broker transport", lambda: load_transport(settings.broker_url))


def _logging(settings: Settings, level: str | None = None, logfile: str | None = None) -> None:
    from execlog_service.log_setup import configure_logging

    configure_logging(settings.log_format, level or settings.log_level, logfile)


def _run(settings: Settings, body: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``body(pool)`` on a short-lived pool; a clear error if the database is unreachable."""
    from execlog_worker.errors import describe
    from execlog_worker.ingest.pool import create_pool

    async def main() -> T:
        pool = await create_pool(settings, role="cli")
        try:
            return await body(pool)
        finally:
            await pool.close()

    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    try:
        return asyncio.run(main())
    except (OSError, TimeoutError) as exc:
        raise click.ClickException(
            f"database {settings.database_url_redacted} unreachable: {describe(exc)}"
        ) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise click.ClickException(
            f"database {settings.database_url_redacted}: {describe(exc)}"
        ) from None


def _echo_json(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="execlog-worker")
def main() -> None:
    """execlog log-worker: consume the `logs` queue, own the execution_logs table, serve it."""


def _prepare_metrics_dir(settings: Settings) -> str:
    path = settings.prometheus_multiproc_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        for stale in Path(path).glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        path = tempfile.mkdtemp(prefix="execlog-worker-metrics-")
        atexit.register(shutil.rmtree, path, True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option("--concurrency", "-c", type=int, default=None, help="child processes [CPUs]")
@click.option("--hostname", "-n", default=None, help="node name [WORKER_HOSTNAME or logs@%h]")
@click.option("--queues", "-Q", default=None, help="queues to consume [logs]")
@click.option("--max-tasks-per-child", type=int, default=None)
@click.option("--max-memory-per-child", type=int, default=None, help="KiB, e.g. 200000")
@click.option("--loglevel", "-l", default=None)
@click.option("--logfile", "-f", default=None)
@click.option("--pool", "-P", type=click.Choice(["prefork", "solo"]), default="prefork")
@check_option
@click.pass_context
def worker(
    ctx: click.Context,
    concurrency: int | None,
    hostname: str | None,
    queues: str | None,
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
    loglevel: str | None,
    logfile: str | None,
    pool: str,
    check_only: bool,
) -> None:
    """Run the Celery worker (prefork). Unknown options are passed to `celery worker`."""
    settings = _settings()
    # Before anything imports prometheus_client: its multiprocess mode reads the folder then.
    metrics_dir = (
        _prepare_metrics_dir(settings) if settings.worker_metrics_port is not None else None
    )
    from execlog_schema.wire import QUEUE_NAME
    from execlog_worker.ingest.celery_app import create_app, parse_worker_argv

    loglevel = loglevel or settings.worker_loglevel
    logfile = logfile or settings.worker_logfile
    argv = [
        "worker",
        f"--queues={queues or QUEUE_NAME}",
        f"--pool={pool}",
        f"--hostname={hostname or settings.worker_hostname}",
        f"--loglevel={loglevel}",
        f"--max-tasks-per-child={max_tasks_per_child or settings.worker_max_tasks_per_child}",
    ]
    concurrency = concurrency or settings.worker_concurrency
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    memory = max_memory_per_child or settings.worker_max_memory_per_child
    if memory:
        argv.append(f"--max-memory-per-child={memory}")
    if logfile:
        argv.append(f"--logfile={logfile}")
    argv.extend(ctx.args)
    app = create_app(settings)
    checks = [
        _database_check(settings),
        _broker_check(settings),
        Check("celery worker options", lambda: parse_worker_argv(app, argv)),
    ]
    if preflight("worker", checks, check_only):
        return

    _logging(settings, loglevel, logfile)
    from execlog_service.log_setup import get_logger

    log = get_logger("execlog_worker.cli")
    _ensure_partitions_once(settings)
    if metrics_dir is not None and settings.worker_metrics_port is not None:
        _serve_worker_metrics(settings)
    log.info(
        "starting worker",
        version=__version__,
        broker=settings.broker_url_redacted,
        database=settings.database_url_redacted,
        argv=argv,
    )
    log_deprecated_settings(log, settings)
    app.worker_main(argv)


def _ensure_partitions_once(settings: Settings) -> None:
    from execlog_service.log_setup import get_logger
    from execlog_worker.errors import describe
    from execlog_worker.ops.partitions import ensure_partitions

    log = get_logger("execlog_worker.cli")

    async def body(pool: Any) -> list[str]:
        async with pool.acquire() as conn:
            return await ensure_partitions(conn, days_ahead=settings.partition_days_ahead)

    try:
        created = _run(settings.model_copy(update={"db_pool_min_size": 1}), body)
    except Exception as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else describe(exc)
        log.warning("partition ensure at start failed; children will retry", error=message)
        return
    if created:
        log.info("partitions created", partitions=created)


def _serve_worker_metrics(settings: Settings) -> None:
    from functools import partial

    from prometheus_client import start_http_server

    from execlog_schema.wire import QUEUE_NAME
    from execlog_worker.broker import redis_client
    from execlog_worker.metrics import QueueLengthCollector, multiprocess_registry

    registry = multiprocess_registry(
        QueueLengthCollector(partial(redis_client, settings), settings.queue_key, QUEUE_NAME)
    )
    assert settings.worker_metrics_port is not None
    start_http_server(settings.worker_metrics_port, addr="0.0.0.0", registry=registry)  # noqa: S104


@main.command()
@click.option("--hostname", "-n", default=None, help="node to ping [WORKER_HOSTNAME or logs@%h]")
@click.option("--timeout", type=float, default=5.0, show_default=True)
def ping(hostname: str | None, timeout: float) -> None:
    """Liveness probe: exit 0 if the worker node answers a Celery control ping."""
    settings = _settings()
    from celery.utils.nodenames import default_nodename, host_format

    from execlog_worker.ingest.celery_app import create_app

    node = host_format(default_nodename(hostname or settings.worker_hostname))
    app = create_app(settings)
    try:
        replies = app.control.ping(destination=[node], timeout=timeout)
    except Exception as exc:
        raise click.ClickException(f"broker {settings.broker_url_redacted}: {exc}") from None
    if not any(node in reply for reply in replies or []):
        raise click.ClickException(f"{node}: no reply within {timeout:g}s")
    click.echo(f"{node}: pong")


@main.command()
@click.option("--host", default=None, help="[API_HOST or 127.0.0.1]")
@click.option("--port", type=int, default=None, help="[API_PORT or 8001]")
@click.option("--workers", type=int, default=1, show_default=True)
@check_option
def api(host: str | None, port: int | None, workers: int, check_only: bool) -> None:
    """Serve the HTTP API (query, live tail, synchronous ingest, health, metrics)."""
    settings = _settings()
    if not settings.log_api_token.get_secret_value():
        raise click.ClickException("LOG_API_TOKEN is not set: refusing to serve without auth")
    checks = [_database_check(settings), Check("app", lambda: import_object(API_FACTORY))]
    if preflight("api", checks, check_only):
        return
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _prepare_metrics_dir(settings)
    _logging(settings)
    import uvicorn

    uvicorn.run(
        API_FACTORY,
        factory=True,
        host=host or settings.api_host,
        port=settings.api_port if port is None else port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


@main.command()
@click.option("--skip-partitions", is_flag=True, help="only run the alembic migrations")
@check_option
def migrate(skip_partitions: bool, check_only: bool) -> None:
    """Apply the migrations (idempotent, safe from two processes at once), ensure partitions."""
    settings = _settings()
    from execlog_worker.ops.schema import head_revision

    if preflight(
        "migrate", [_database_check(settings), Check("migrations", head_revision)], check_only
    ):
        return
    _logging(settings)
    from sqlalchemy.exc import DBAPIError

    from execlog_worker.errors import describe
    from execlog_worker.ops.partitions import ensure_partitions
    from execlog_worker.ops.schema import migrate as run_migrate

    try:
        asyncio.run(run_migrate(settings))
    except (OSError, TimeoutError) as exc:
        raise click.ClickException(
            f"database {settings.database_url_redacted} unreachable: {describe(exc)}"
        ) from None
    except DBAPIError as exc:
        cause = exc.orig if exc.orig is not None else exc
        raise click.ClickException(
            f"migration failed on {settings.database_url_redacted}: {describe(cause)}"
        ) from None
    click.echo("migrations: at head")
    if skip_partitions:
        return

    async def body(pool: Any) -> list[str]:
        async with pool.acquire() as conn:
            return await ensure_partitions(conn, days_ahead=settings.partition_days_ahead)

    created = _run(settings, body)
    click.echo(
        f"partitions: {len(created)} created" + (f" ({', '.join(created)})" if created else "")
    )


@main.group()
def partitions() -> None:
    """Daily partitions of execution_logs."""


@partitions.command("ensure")
@click.option("--days-ahead", type=int, default=None, help="[PARTITION_DAYS_AHEAD or 7]")
def partitions_ensure(days_ahead: int | None) -> None:
    """Create the partitions of yesterday, today and the next days."""
    settings = _settings()
    from execlog_worker.ops.partitions import ensure_partitions

    async def body(pool: Any) -> list[str]:
        async with pool.acquire() as conn:
            return await ensure_partitions(
                conn, days_ahead=days_ahead or settings.partition_days_ahead
            )

    created = _run(settings, body)
    click.echo(
        f"partitions: {len(created)} created" + (f" ({', '.join(created)})" if created else "")
    )


@partitions.command("list")
def partitions_list() -> None:
    """List the daily partitions."""
    settings = _settings()
    from execlog_worker.ops.partitions import list_partitions

    async def body(pool: Any) -> list[str]:
        async with pool.acquire() as conn:
            return [p.name for p in await list_partitions(conn)]

    for name in _run(settings, body):
        click.echo(name)


@main.command()
@click.option("--older-than", default=None, help="age, e.g. 30d, 12h, 2w [RETENTION_DAYS]")
@click.option("--dry-run", is_flag=True)
def retention(older_than: str | None, dry_run: bool) -> None:
    """Drop partitions older than the retention period; purge old DEFAULT rows."""
    settings = _settings()
    from datetime import timedelta

    from execlog_worker.ops.partitions import RetentionResult, drop_older_than, parse_age

    try:
        age = parse_age(older_than) if older_than else timedelta(days=settings.retention_days)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    cutoff = datetime.now(UTC) - age

    async def body(pool: Any) -> RetentionResult:
        async with pool.acquire() as conn:
            result = await drop_older_than(conn, cutoff, dry_run=dry_run)
            if not dry_run:
                await conn.execute(
                    "DELETE FROM execution_log_rejects WHERE resolved_at < $1", cutoff
                )
            return result

    result = _run(settings, body)
    verb = "would drop" if dry_run else "dropped"
    click.echo(
        f"cutoff {cutoff.isoformat()}: {verb} {len(result.dropped)} partition(s)"
        + (f" ({', '.join(result.dropped)})" if result.dropped else "")
        + f"; {result.default_rows_deleted} row(s) from the default partition"
    )


@main.group()
def dlq() -> None:
    """Dead letters (execution_log_rejects)."""


@dlq.command("list")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--all", "include_resolved", is_flag=True, help="include resolved ones")
@click.option("--json", "as_json", is_flag=True)
def dlq_list(limit: int, include_resolved: bool, as_json: bool) -> None:
    """List open dead letters, oldest first."""
    settings = _settings()
    from execlog_worker.ingest.dead_letters import DeadLetter, list_dead_letters

    async def body(pool: Any) -> list[DeadLetter]:
        async with pool.acquire() as conn:
            return await list_dead_letters(conn, limit=limit, include_resolved=include_resolved)

    rows = _run(settings, body)
    if as_json:
        _echo_json([r.as_dict() for r in rows])
        return
    for r in rows:
        state = f"resolved {r.resolved_at:%Y-%m-%d %H:%M}" if r.resolved_at else "open"
        click.echo(
            f"{r.id}\t{r.kind}\t{state}\tx{r.occurrences}\t{r.received_at:%Y-%m-%d %H:%M:%S}"
            f"\tbatch={r.batch_id or '-'}\t{r.reason}"
        )
    if not rows:
        click.echo("no dead letters", err=True)


@dlq.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="replay every open dead letter")
def dlq_replay(ids: tuple[int, ...], replay_all: bool) -> None:
    """Replay dead letters (after a fix): written ones are marked resolved."""
    if not ids and not replay_all:
        raise click.UsageError("give dead-letter ids, or --all")
    settings = _settings()
    _logging(settings)
    from execlog_worker.ingest.dead_letters import ReplayOutcome, replay
    from execlog_worker.ingest.writer import LogWriter

    async def body(pool: Any) -> list[ReplayOutcome]:
        return await replay(LogWriter(pool, settings.write_method), ids=list(ids) or None)

    outcomes = _run(settings, body)
    failed = 0
    for o in outcomes:
        r = o.result
        if r.status == "written":
            click.echo(f"{o.reject_id}\twritten\t{r.written} new, {r.duplicates} duplicates")
        else:
            failed += 1
            click.echo(f"{o.reject_id}\t{r.status}\t{r.reason}")
    click.echo(f"replayed {len(outcomes)}, still failing {failed}", err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.option("--port", type=int, default=None, help="[FLOWER_PORT or 5555]")
@click.option("--address", default=None, help="[FLOWER_ADDRESS or 127.0.0.1]")
@click.option("--basic-auth", default=None, help="user:pass[,user:pass] [FLOWER_BASIC_AUTH]")
@click.option("--no-auth", is_flag=True, help="allow Flower without auth (local use only)")
@check_option
@click.pass_context
def flower(
    ctx: click.Context,
    port: int | None,
    address: str | None,
    basic_auth: str | None,
    no_auth: bool,
    check_only: bool,
) -> None:
    """Run Flower (Celery monitoring) for this worker's broker, behind basic auth."""
    settings = _settings()
    auth = basic_auth or (
        settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth else None
    )
    if not auth and not no_auth:
        raise click.ClickException(
            "FLOWER_BASIC_AUTH (user:pass) is not set: Flower shows task arguments (log "
            "contents); refusing to serve it without auth (--no-auth for local use)"
        )
    checks = [
        _broker_check(settings),
        Check("flower", lambda: load_entry_point("celery.commands", "flower")),
    ]
    if preflight("flower", checks, check_only):
        return
    _logging(settings)
    from execlog_worker.ingest.celery_app import create_app

    app = create_app(settings)
    argv = [
        "flower",
        f"--port={port or settings.flower_port}",
        f"--address={address or settings.flower_address}",
    ]
    if auth:
        argv.append(f"--basic-auth={auth}")
    argv.extend(ctx.args)
    app.start(argv)


if __name__ == "__main__":
    main()
