"""The execution_logs schema: this service's Alembic migrations, read from the package."""

from __future__ import annotations

from execlog_db.migrations import head_revision as script_head
from execlog_db.migrations import packaged_scripts, upgrade_async
from execlog_worker.settings import MIGRATION_LOCK_KEY, Settings

PACKAGE = "execlog_worker.ops"
"""The package whose ``migrations`` folder holds the scripts."""


def head_revision() -> str:
    """The revision ``migrate`` leads to (reads every packaged migration script)."""
    with packaged_scripts(PACKAGE) as location:
        return script_head(location)


async def migrate(settings: Settings) -> None:
    """Apply every migration (alembic upgrade head) under this service's advisory lock."""
    with packaged_scripts(PACKAGE) as location:
        await upgrade_async(location, settings.database_url, lock_key=MIGRATION_LOCK_KEY)
