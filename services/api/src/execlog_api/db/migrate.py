"""Apply the API's Alembic migrations (packaged in ``execlog_api/migrations``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from execlog_db.migrations import head_revision as script_head
from execlog_db.migrations import upgrade, upgrade_async

LOCK_KEY = 0x65786C6F675F6170
"""pg_advisory_xact_lock key of the API's migrations (b"exlog_ap")."""


def _copy_tree(source: resources.abc.Traversable, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())


@contextmanager
def script_location() -> Iterator[str]:
    """A filesystem path of the migrations directory (copied out when packaged in a zip)."""
    package = resources.files("execlog_api") / "migrations"
    if isinstance(package, Path):
        yield str(package)
        return
    tmp = Path(tempfile.mkdtemp(prefix="execlog-api-migrations-"))
    try:
        _copy_tree(package, tmp / "migrations")
        yield str(tmp / "migrations")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def head_revision() -> str:
    """The revision ``migrate`` leads to (reads every packaged migration script)."""
    with script_location() as location:
        return script_head(location)


def migrate(database_url: str, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` under the API's advisory lock (sync)."""
    with script_location() as location:
        upgrade(location, database_url, lock_key=LOCK_KEY, revision=revision)


async def migrate_async(database_url: str, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` under the API's advisory lock (async)."""
    with script_location() as location:
        await upgrade_async(location, database_url, lock_key=LOCK_KEY, revision=revision)
