"""``execlog-api`` command line: serve (uvicorn), migrate, --version.

``serve`` and ``migrate`` check what they load by name before they start (the database driver,
the broker transport, the app factory, the migration scripts): a missing one stops the command
with one line and exit status 1. ``--check`` runs only those checks and says what it found.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from execlog_api._version import __version__
from execlog_service.cli import check_option, load_settings, preflight
from execlog_service.startup import Check, import_object, writable_directory

if TYPE_CHECKING:
    from execlog_api.settings import Settings

APP_FACTORY = "execlog_api.app:create_app"
"""What uvicorn imports by name: the app factory."""


def _settings() -> Settings:
    from execlog_api.settings import get_settings

    return load_settings(get_settings)


def _database_check(settings: Settings) -> Check:
    from execlog_db.url import load_driver

    return Check("database driver", lambda: load_driver(settings.database_url))


def _migrations_check() -> Check:
    from execlog_api.db.migrate import head_revision

    return Check("migrations", head_revision)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="execlog-api")
def main() -> None:
    """execlog API service: workflow executions and their logs."""


@main.command()
@click.option("--host", default=None, help="Bind address [env HOST, default 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="[env PORT, 8000].")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Processes [env WORKERS, 1]."
)
@click.option("--migrate/--no-migrate", "run_migrations", default=False, help="Migrate first.")
@check_option
def serve(
    host: str | None, port: int | None, workers: int | None, run_migrations: bool, check_only: bool
) -> None:
    """Run the HTTP API with uvicorn (settings from the environment)."""
    settings = _settings()
    from execlog_broker.transport import load_transport

    checks = [_database_check(settings)]
    if settings.log_sink == "celery":
        checks.append(Check("broker transport", lambda: load_transport(settings.broker_url)))
    checks.append(Check("spool directory", lambda: writable_directory(settings.log_spool_dir)))
    checks.append(Check("app", lambda: import_object(APP_FACTORY)))
    if run_migrations:
        checks.append(_migrations_check())
    if preflight("serve", checks, check_only):
        return

    import uvicorn

    from execlog_service.log_setup import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    if run_migrations:
        _migrate(settings.database_url, "head")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
        log_config=None,
        lifespan="on",
        proxy_headers=True,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace) + 5),
    )


@main.command()
@click.option(
    "--database-url",
    default=None,
    help="Target database [env DATABASE_URL]; postgresql:// or postgresql+asyncpg://.",
)
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
@check_option
def migrate(database_url: str | None, revision: str, check_only: bool) -> None:
    """Apply the API's own migrations (executions tables) under an advisory lock."""
    url = database_url or _settings().database_url
    from execlog_db.url import load_driver

    checks = [Check("database driver", lambda: load_driver(url)), _migrations_check()]
    if preflight("migrate", checks, check_only):
        return
    _migrate(url, revision)


def _migrate(database_url: str, revision: str) -> None:
    from execlog_api.db.migrate import migrate as run
    from execlog_db.url import redact

    try:
        run(database_url, revision)
    except Exception as exc:
        click.echo(f"migration failed: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"migrated {redact(database_url)} to {revision}")


if __name__ == "__main__":  # pragma: no cover
    main()
