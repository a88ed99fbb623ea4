"""The execution_logs schema: this service's Alembic migrations, read from the package."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from execlog_db.migrations import head_revision as script_head
from execlog_db.migrations import upgrade_async
from execlog_worker.settings import MIGRATION_LOCK_KEY, Settings


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
    root = resources.files("execlog_worker.ops") / "migrations"
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
