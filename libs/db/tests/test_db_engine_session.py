"""Engine factory and session_scope commit/rollback against real PostgreSQL."""

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from execlog_db.engine import PoolSettings, create_engine
from execlog_db.session import session_scope


async def test_db_session_scope_commits_and_rolls_back(database_url: str) -> None:
    pool = PoolSettings(pool_size=2, max_overflow=0)
    engine = create_engine(database_url, **pool.model_dump())
    try:
        assert engine.pool.size() == 2  # type: ignore[attr-defined]
        maker = async_sessionmaker(engine, expire_on_commit=False)
        async with session_scope(maker) as session:
            await session.execute(text("CREATE TABLE t (v int)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))

        async def insert_then_fail() -> None:
            async with session_scope(maker) as session:
                await session.execute(text("INSERT INTO t VALUES (2)"))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await insert_then_fail()
        async with session_scope(maker) as session:
            rows = (await session.execute(text("SELECT v FROM t"))).scalars().all()
        assert rows == [1]
    finally:
        await engine.dispose()


async def test_db_pool_wait_observer_sees_waits_and_timeouts(database_url: str) -> None:
    seen: list[tuple[float, bool]] = []
    engine = create_engine(
        database_url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.3,
        pool_wait=lambda waited, timed_out: seen.append((waited, timed_out)),
    )
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            assert len(seen) == 1
            assert seen[0][1] is False

            with pytest.raises(sa_exc.TimeoutError):
                async with engine.connect() as starved:
                    await starved.execute(text("SELECT 1"))
        waited, timed_out = seen[-1]
        assert timed_out is True
        assert waited >= 0.25

        async with engine.connect() as again:
            assert (await again.execute(text("SELECT 2"))).scalar() == 2
        assert seen[-1][1] is False
        await engine.dispose()
        async with engine.connect() as after_recreate:
            await after_recreate.execute(text("SELECT 3"))
        assert len(seen) == 4
    finally:
        await engine.dispose()
