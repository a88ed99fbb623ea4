"""Create and drop databases (tests, local stacks). Sync wrappers plus ``*_async`` variants."""

from __future__ import annotations

import re

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_db._sync import run_sync
from execlog_db.url import _parse, to_asyncpg_dsn

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _quoted(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid database name {name!r} (letters, digits, _; max 63)")
    return f'"{name}"'


def database_url_for(url: str, name: str) -> str:
    """Return ``url`` pointing at database ``name`` (scheme, driver and credentials kept)."""
    _quoted(name)
    return _parse(url).set(database=name).render_as_string(hide_password=False)


async def database_exists_async(server_url: str, name: str) -> bool:
    """Whether database ``name`` exists on the server of ``server_url``."""
    conn = await asyncpg.connect(to_asyncpg_dsn(server_url))
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    return found is not None


async def create_database_async(server_url: str, name: str) -> None:
    """CREATE DATABASE ``name``, connecting through ``server_url`` (any existing database)."""
    conn = await asyncpg.connect(to_asyncpg_dsn(server_url))
    try:
        await conn.execute(f"CREATE DATABASE {_quoted(name)}")
    finally:
        await conn.close()


async def drop_database_async(server_url: str, name: str) -> None:
    """DROP DATABASE IF EXISTS ``name`` WITH (FORCE): open connections are terminated."""
    conn = await asyncpg.connect(to_asyncpg_dsn(server_url))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
    finally:
        await conn.close()


def database_exists(server_url: str, name: str) -> bool:
    """Sync form of :func:`database_exists_async`."""
    return run_sync(database_exists_async(server_url, name))


def create_database(server_url: str, name: str) -> None:
    """Sync form of :func:`create_database_async`."""
    run_sync(create_database_async(server_url, name))


def drop_database(server_url: str, name: str) -> None:
    """Sync form of :func:`drop_database_async`."""
    run_sync(drop_database_async(server_url, name))
