"""AsyncEngine factory with explicit pool settings and an optional pool-wait observer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from execlog_db.url import to_async_url

PoolWaitObserver = Callable[[float, bool], None]
"""Called after every pool checkout with (seconds waited, whether it timed out)."""


class PoolSettings(BaseModel):
    """The pool arguments of :func:`create_engine` as one model (``**pool.model_dump()``)."""

    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_pre_ping: bool = True


class TimedQueuePool(AsyncAdaptedQueuePool):
    """The asyncio queue pool, reporting how long each checkout waited for a connection.

    ``observe`` is a class attribute because SQLAlchemy builds (and on ``recreate()``
    rebuilds) the pool from its class; :func:`timed_pool_class` binds one per engine.
    """

    observe: PoolWaitObserver

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        timed_out = False
        try:
            return super()._do_get()
        except sa_exc.TimeoutError:
            timed_out = True
            raise
        finally:
            type(self).observe(time.perf_counter() - started, timed_out)


def timed_pool_class(observe: PoolWaitObserver) -> type[TimedQueuePool]:
    """A :class:`TimedQueuePool` subclass that reports to ``observe``."""
    return type("BoundTimedQueuePool", (TimedQueuePool,), {"observe": staticmethod(observe)})


def create_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    pool_pre_ping: bool = True,
    pool_wait: PoolWaitObserver | None = None,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """Create an asyncpg-backed AsyncEngine; ``url`` may be postgresql:// or postgresql+asyncpg://.

    ``pool_wait`` (optional) is told how long every connection checkout waited and whether it
    ran into ``pool_timeout``: the signal of an exhausted pool.
    """
    if pool_wait is not None:
        engine_kwargs["poolclass"] = timed_pool_class(pool_wait)
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=pool_pre_ping,
        **engine_kwargs,
    )
