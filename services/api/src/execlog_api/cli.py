"""``execlog-api`` command line: serve (uvicorn), migrate, --version."""

from __future__ import annotations

import sys

import click

from execlog_api._version import __version__


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
def serve(host: str | None, port: int | None, workers: int | None, run_migrations: bool) -> None:
    """Run the HTTP API with uvicorn (settings from the environment)."""
    import uvicorn

    from execlog_api.logging_config import configure_logging
    from execlog_api.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    if run_migrations:
        _migrate(settings.database_url, "head")
    uvicorn.run(
        "execlog_api.app:create_app",
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
def migrate(database_url: str | None, revision: str) -> None:
    """Apply the API's own migrations (executions tables) under an advisory lock."""
    from execlog_api.settings import get_settings

    _migrate(database_url or get_settings().database_url, revision)


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
