"""Engine factory and session_scope commit/rollback against real PostgreSQL."""

import pytest
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
