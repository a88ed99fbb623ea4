"""Start the whole execlog system locally: ``./pants run deploy/local:up -- [OPTIONS]``.

Uses the PostgreSQL and Redis given by ``--database-url``/``--redis-url`` (or DATABASE_URL /
REDIS_URL, or the defaults on 127.0.0.1) when they answer, else starts private servers
with their data under ``.local/`` of the repo. Creates the API and logs databases, runs both
services' migrations, starts log-worker's API, its Celery worker(s), the API and Flower,
and prints their URLs. Ctrl-C (or SIGTERM) stops everything in order: the API first (its
log buffer flushes), then, once the logs queue is drained, the workers. A second Ctrl-C
kills what is left.

The services run from sources (``python -m execlog_api``...) by default; ``--pex`` runs
instead the PEX files that ``./pants package`` wrote under ``dist/`` (``--dist DIR``), with
the command lines of the systemd units: exactly what is deployed.

``--demo N`` drives N executions through the API (records posted to each, with a progress
bar), waits until everything is stored, reads every execution's logs back through the API
and prints produced, stored, lost, duplicated, throughput and latency; the exit status is
1 when anything was lost or duplicated.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from execlog_stack.errors import ProcessFailedError, StackError
from execlog_stack.load import LoadDriver, LoadReport, check_order, compare
from execlog_stack.ports import free_port, port_open
from execlog_stack.services import Launcher
from execlog_stack.stack import Stack, StackConfig

DEFAULT_PORTS = {"api": 8000, "log-worker api": 8001, "flower": 5555}
KEY_PREFIX = "execlog-local:"
DATABASE_PREFIX = "execlog_local"

console = Console(highlight=False)


def repo_root() -> Path:
    """The monorepo root (the folder with pants.toml) above the cwd, else the cwd."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pants.toml").exists():
            return folder
    for folder in Path(__file__).resolve().parents:
        if (folder / "pants.toml").exists():
            return folder
    return here


def pick_port(name: str, host: str, requested: int | None) -> int:
    """The requested port (must be free), else the usual one when free, else any free one."""
    if requested is not None:
        if requested and port_open(host, requested):
            raise StackError(f"port {requested} for {name} is in use: choose another")
        return requested or free_port(host)
    usual = DEFAULT_PORTS[name]
    if not port_open(host, usual):
        return usual
    port = free_port(host)
    console.print(f"[yellow]port {usual} ({name}) is in use: using {port}[/]")
    return port


@dataclass(frozen=True)
class DemoOptions:
    """What ``--demo`` drives."""

    executions: int
    records: int
    batch: int
    concurrency: int
    drain_timeout: float


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def report_table(report: LoadReport, title: str) -> Table:
    """The summary table of a demo run."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in report.summary().items():
        style = ""
        if key in ("lost", "duplicated", "unexpected") and value != "0":
            style = "bold red"
        table.add_row(key, f"[{style}]{value}[/]" if style else value)
    return table


async def run_demo(stack: Stack, opts: DemoOptions) -> LoadReport:
    """Drive the demo load and account for every record (read back through the API)."""
    total = opts.executions * opts.records
    async with LoadDriver(
        stack.api_url,
        stack.logs_database_url,
        concurrency=opts.concurrency,
        request_retries=3,
    ) as driver:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("logging records", total=total)
            await driver.produce(
                executions=opts.executions,
                records_per_execution=opts.records,
                batch_size=opts.batch,
                progress=lambda n: progress.advance(task, n),
            )
        with console.status("waiting until every record is stored"):
            stored = await driver.wait_stored(timeout=opts.drain_timeout)
        count = len(driver.ledger.executions)
        with console.status(f"reading {count} executions back through the API"):
            by_execution = await driver.read_back_all()
        rows = [row for group in by_execution.values() for row in group]
        report = compare(driver.ledger, rows, driver.run_id)
        report.produce_seconds = stored.produce_seconds
        report.drain_seconds = stored.drain_seconds
        report.request_errors = stored.request_errors
        if not report.latencies:
            report.latencies = stored.latencies
        disordered = check_order(driver.ledger, by_execution)
        if disordered:
            console.print(f"[red]{len(disordered)} executions read back out of order[/]")
            report.out_of_order = disordered
        return report


def _watch(stack: Stack) -> None:
    """Block until Ctrl-C; tell once about every process that died on its own."""
    reported: set[str] = set()
    while True:
        time.sleep(1.0)
        for proc in stack.all_processes():
            if not proc.running and proc.name not in reported:
                reported.add(proc.name)
                console.print(
                    f"[red]{proc.name} exited ({proc.returncode}); "
                    f"log: {proc.spec.log_path}[/]\n{proc.log_tail(15)}"
                )


def _print_urls(stack: Stack) -> None:
    table = Table(title="execlog is running", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("where")
    for name, url in stack.urls().items():
        table.add_row(name, url)
    launcher = stack.config.launcher
    table.add_row(
        "services from", "sources" if launcher.sources else " ".join(launcher.api + launcher.worker)
    )
    table.add_row("process logs", str(stack.log_dir))
    table.add_row("api spool", str(stack.spool_dir))
    console.print(table)
    startup = ", ".join(f"{k} {v:.1f}s" for k, v in stack.timings.items())
    console.print(f"started in {sum(stack.timings.values()):.1f}s ({startup})")


def _stop(stack: Stack) -> None:
    if not stack.holds_resources:
        stack.stop()
        return
    console.print("[bold]stopping[/] (Ctrl-C again to kill)")
    try:
        stack.stop(say=lambda line: console.print(f"  {line}"))
    except KeyboardInterrupt:
        console.print("[red]killing everything[/]")
        stack.kill_all()
        stack.stop()
    console.print("stopped")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address every service binds.")
@click.option("--api-port", type=click.IntRange(0, 65535), help="API port [8000 when free].")
@click.option(
    "--worker-api-port", type=click.IntRange(0, 65535), help="log-worker API port [8001 when free]."
)
@click.option("--flower-port", type=click.IntRange(0, 65535), help="Flower port [5555 when free].")
@click.option("--flower/--no-flower", default=True, show_default=True, help="Run Flower.")
@click.option(
    "--workers", type=click.IntRange(1, 32), default=1, show_default=True, help="Celery workers."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Prefork processes per Celery worker.",
)
@click.option(
    "--api-workers", type=click.IntRange(1, 16), default=1, show_default=True, help="API processes."
)
@click.option("--database-url", help="PostgreSQL server [env DATABASE_URL, else 127.0.0.1:5432].")
@click.option("--redis-url", help="Redis [env REDIS_URL, else redis://127.0.0.1:6379/0].")
@click.option("--own-redis", is_flag=True, help="Always start a private redis-server.")
@click.option("--own-postgres", is_flag=True, help="Always start a private PostgreSQL.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="State folder (logs, spool, private servers) [<repo>/.local/stack].",
)
@click.option("--fresh", is_flag=True, help="Drop and recreate the two databases first.")
@click.option(
    "--key-prefix", default=KEY_PREFIX, show_default=True, help="Redis key prefix (isolation)."
)
@click.option(
    "--demo",
    "demo",
    type=click.IntRange(0, 1_000_000),
    default=0,
    help="Drive N executions through the API, then print the accounting.",
)
@click.option(
    "--records",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="Records posted to each demo execution.",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Records per POST .../logs request.",
)
@click.option(
    "--demo-concurrency",
    type=click.IntRange(1, 512),
    default=16,
    show_default=True,
    help="Executions posting at once.",
)
@click.option(
    "--drain-timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds to wait for every demo record to be stored.",
)
@click.option(
    "--pex",
    "from_pex",
    is_flag=True,
    help="Run the services' PEXes from --dist (what is deployed) instead of their sources.",
)
@click.option(
    "--dist",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `./pants package` wrote the PEXes [<repo>/dist].",
)
@click.option("--stay", is_flag=True, help="Keep running after --demo (until Ctrl-C).")
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Databases and Redis keys of this run only (unique names), removed at exit.",
)
def main(
    host: str,
    api_port: int | None,
    worker_api_port: int | None,
    flower_port: int | None,
    flower: bool,
    workers: int,
    concurrency: int,
    api_workers: int,
    database_url: str | None,
    redis_url: str | None,
    own_redis: bool,
    own_postgres: bool,
    workdir: Path | None,
    fresh: bool,
    key_prefix: str,
    demo: int,
    records: int,
    batch: int,
    demo_concurrency: int,
    drain_timeout: float,
    from_pex: bool,
    dist: Path | None,
    stay: bool,
    ephemeral: bool,
) -> None:
    """Run API, log-worker (API + Celery workers) and Flower on this machine."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        launcher = (
            Launcher.from_pex(dist or repo_root() / "dist") if from_pex else Launcher.from_sources()
        )
        config = StackConfig(
            workdir=workdir or repo_root() / ".local" / "stack",
            database_url=database_url,
            redis_url=redis_url,
            own_redis=own_redis,
            own_postgres=own_postgres,
            host=host,
            api_port=pick_port("api", host, api_port),
            worker_api_port=pick_port("log-worker api", host, worker_api_port),
            flower=flower,
            flower_port=pick_port("flower", host, flower_port) if flower else None,
            workers=workers,
            worker_concurrency=concurrency,
            api_workers=api_workers,
            key_prefix=None if ephemeral else key_prefix,
            database_prefix=None if ephemeral else DATABASE_PREFIX,
            reuse_databases=not (fresh or ephemeral),
            drop_databases=ephemeral,
            delete_keys=ephemeral,
            launcher=launcher,
        )
        stack = Stack(config)
    except StackError as exc:
        click.echo(f"execlog-local: {exc}", err=True)
        sys.exit(1)
    status = 0
    try:
        with console.status("starting PostgreSQL/Redis, migrations, services"):
            stack.start()
        _print_urls(stack)
        if demo:
            opts = DemoOptions(demo, records, batch, demo_concurrency, drain_timeout)
            report = asyncio.run(run_demo(stack, opts))
            console.print(report_table(report, f"demo: {demo} executions x {records} records"))
            status = 0 if report.ok and not report.out_of_order else 1
        if not demo or stay:
            console.print("Ctrl-C stops everything")
            _watch(stack)
    except KeyboardInterrupt:
        pass
    except ProcessFailedError as exc:
        click.echo(f"execlog-local: {exc}", err=True)
        if exc.log_tail:
            click.echo(exc.log_tail, err=True)
        status = 1
    except StackError as exc:
        click.echo(f"execlog-local: {exc}", err=True)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _stop(stack)
    sys.exit(status)


if __name__ == "__main__":
    main()
