"""Database URL normalisation between SQLAlchemy (asyncpg driver) and plain libpq/asyncpg forms."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_POSTGRES_NAMES = frozenset({"postgres", "postgresql"})


def _parse(url: str | URL) -> URL:
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend not in _POSTGRES_NAMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
    return parsed


def to_async_url(url: str | URL) -> str:
    """Return ``url`` as ``postgresql+asyncpg://...`` (from postgres://, postgresql://, +driver)."""
    parsed = _parse(url).set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def load_driver(url: str | URL) -> str:
    """Import the DBAPI driver of ``url``'s async dialect, as the first engine would; its name.

    SQLAlchemy imports the driver by name only when an engine is created: this makes a missing
    one fail at startup (ModuleNotFoundError) instead of at the first query.
    """
    dialect = make_url(to_async_url(url)).get_dialect()
    dialect.import_dbapi()
    return str(dialect.driver)


def to_asyncpg_dsn(url: str | URL) -> str:
    """Return ``url`` as a plain ``postgresql://...`` DSN that asyncpg and libpq accept."""
    parsed = _parse(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def database_name(url: str | URL) -> str | None:
    """Return the database name part of ``url`` (None when absent)."""
    return _parse(url).database


def redact(url: str | URL) -> str:
    """Return ``url`` with its password masked, for logs."""
    return _parse(url).render_as_string(hide_password=True)
