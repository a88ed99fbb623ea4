"""asyncpg pools and this service's migrations (read from the package with importlib.resources)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_db.migrations import head_revision as script_head
from execlog_db.migrations import upgrade_async
from execlog_worker.settings import MIGRATION_LOCK_KEY, Settings

APPLICATION_NAME = "execlog-worker"


async def create_pool(
    settings: Settings, *, role: str = "writer", min_size: int | None = None
) -> asyncpg.Pool:
    """A pool sized by DB_POOL_MIN_SIZE/DB_POOL_MAX_SIZE (``min_size=0``: connect lazily)."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn=settings.asyncpg_dsn,
        min_size=settings.db_pool_min_size if min_size is None else min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_connect_timeout,
        command_timeout=settings.db_command_timeout,
        server_settings={"application_name": f"{APPLICATION_NAME}-{role}"},
    )
    return pool


def _copy_tree(src: Traversable, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            _copy_tree(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())


@contextmanager
def migrations_location() -> Iterator[str]:
    """Path of the packaged alembic directory (extracted to a temp dir when zipped)."""
    root = resources.files("execlog_worker") / "migrations"
    if isinstance(root, Path):
        yield str(root)
        return
    tmp = Path(tempfile.mkdtemp(prefix="execlog-worker-migrations-"))
    try:
        _copy_tree(root, tmp / "migrations")
        yield str(tmp / "migrations")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def head_revision() -> str:
    """The revision ``migrate`` leads to (reads every packaged migration script)."""
    with migrations_location() as location:
        return script_head(location)


async def migrate(settings: Settings) -> None:
    """Apply every migration (alembic upgrade head) under this service's advisory lock."""
    with migrations_location() as location:
        await upgrade_async(location, settings.database_url, lock_key=MIGRATION_LOCK_KEY)
