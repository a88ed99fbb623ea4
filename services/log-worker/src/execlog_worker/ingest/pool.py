"""asyncpg pools of the log-worker (one per worker child, per API process, per command)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_worker.settings import Settings

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
