"""Apply the API's Alembic migrations (packaged in ``execlog_api/migrations``)."""

from __future__ import annotations

from execlog_db.migrations import head_revision as script_head
from execlog_db.migrations import packaged_scripts, upgrade, upgrade_async

LOCK_KEY = 0x65786C6F675F6170
"""pg_advisory_xact_lock key of the API's migrations (b"exlog_ap")."""
PACKAGE = "execlog_api"
"""The package whose ``migrations`` folder holds the scripts."""


def head_revision() -> str:
    """The revision ``migrate`` leads to (reads every packaged migration script)."""
    with packaged_scripts(PACKAGE) as location:
        return script_head(location)


def migrate(database_url: str, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` under the API's advisory lock (sync)."""
    with packaged_scripts(PACKAGE) as location:
        upgrade(location, database_url, lock_key=LOCK_KEY, revision=revision)


async def migrate_async(database_url: str, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` under the API's advisory lock (async)."""
    with packaged_scripts(PACKAGE) as location:
        await upgrade_async(location, database_url, lock_key=LOCK_KEY, revision=revision)
