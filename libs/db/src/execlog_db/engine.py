"""AsyncEngine factory with explicit pool settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from execlog_db.url import to_async_url


class PoolSettings(BaseModel):
    """Connection pool sizing, meant to be embedded in a service's Settings."""

    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_pre_ping: bool = True


def create_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    pool_pre_ping: bool = True,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """Create an asyncpg-backed AsyncEngine; ``url`` may be postgresql:// or postgresql+asyncpg://."""
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=pool_pre_ping,
        **engine_kwargs,
    )
