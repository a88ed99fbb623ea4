"""Alembic upgrade under a PostgreSQL advisory lock, and the shared body of a service's env.py.

``upgrade`` opens one connection, takes ``pg_advisory_xact_lock(lock_key)`` and runs
``alembic upgrade head`` on that same connection inside the same transaction, so two
processes migrating at once are serialised and the second one finds the schema at head.
A service's ``env.py`` is just::

    from alembic import context
    from execlog_db.migrations import run_env
    run_env(context, target_metadata=None, version_table="alembic_version_<service>")

(use a version table of your own: services may share one database).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from execlog_db._sync import run_sync
from execlog_db.url import to_async_url

CONNECTION_ATTRIBUTE = "connection"
URL_ATTRIBUTE = "execlog_url"


def make_config(script_location: str, url: str) -> Config:
    """An in-memory Alembic Config (no alembic.ini) for ``script_location`` and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location.replace("%", "%%"))
    cfg.attributes[URL_ATTRIBUTE] = url
    return cfg


def _copy_tree(source: Traversable, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())


@contextmanager
def packaged_scripts(package: str, folder: str = "migrations") -> Iterator[str]:
    """A filesystem path of the Alembic scripts in ``package``/``folder``.

    Alembic reads scripts from a directory; a package in a zip (a PEX not in venv mode) has
    none, so the folder is copied out for as long as the context lasts.
    """
    root = resources.files(package) / folder
    if isinstance(root, Path):
        yield str(root)
        return
    tmp = Path(tempfile.mkdtemp(prefix=f"{package}-{folder}-"))
    try:
        _copy_tree(root, tmp / folder)
        yield str(tmp / folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def head_revision(script_location: str) -> str:
    """The head revision of the Alembic scripts at ``script_location`` (each script is read)."""
    heads = ScriptDirectory(script_location).get_heads()
    if len(heads) != 1:
        raise LookupError(f"expected one head revision in {script_location}, found {heads}")
    return str(heads[0])


def _upgrade_on(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes[CONNECTION_ATTRIBUTE] = connection
    command.upgrade(cfg, revision)


async def upgrade_async(
    script_location: str, url: str, *, lock_key: int, revision: str = "head"
) -> None:
    """Run ``alembic upgrade <revision>`` holding a transaction-scoped advisory lock."""
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            await conn.run_sync(_upgrade_on, make_config(script_location, url), revision)
    finally:
        await engine.dispose()


def upgrade(script_location: str, url: str, *, lock_key: int, revision: str = "head") -> None:
    """Sync form of :func:`upgrade_async` (safe to call from two processes at once)."""
    run_sync(upgrade_async(script_location, url, lock_key=lock_key, revision=revision))


def _run_on(
    context: Any, connection: Connection, target_metadata: MetaData | None, version_table: str
) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(
    context: Any, url: str, target_metadata: MetaData | None, version_table: str
) -> None:
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync_conn: _run_on(context, sync_conn, target_metadata, version_table)
            )
    finally:
        await engine.dispose()


def run_env(
    context: Any,
    target_metadata: MetaData | None = None,
    *,
    version_table: str = "alembic_version",
) -> None:
    """Body of an env.py: use the connection passed by :func:`upgrade`, else connect by URL."""
    config = context.config
    url = config.attributes.get(URL_ATTRIBUTE) or config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get(CONNECTION_ATTRIBUTE)
    if connection is not None:
        _run_on(context, connection, target_metadata, version_table)
        return
    if not url:
        raise RuntimeError("no connection attribute and no sqlalchemy.url for alembic")
    asyncio.run(_run_standalone(context, url, target_metadata, version_table))
