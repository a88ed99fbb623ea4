"""The pytest plugin really gives a fresh database per test and drops it afterwards."""

import os
import sys

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest

from execlog_db.admin import database_exists
from execlog_db.url import database_name, to_asyncpg_dsn


async def test_db_testing_database_is_fresh(database_url: str) -> None:
    conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT current_database()") == database_name(database_url)
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            " 'information_schema')"
        )
        assert tables == 0
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _absolute_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(os.path.abspath(p) for p in sys.path if p))


def test_db_testing_database_dropped_after(
    pytester: pytest.Pytester, database_server_url: str
) -> None:
    out = pytester.path / "names.txt"
    pytester.makeconftest('pytest_plugins = ["execlog_db.testing"]')
    pytester.makepyfile(f"""
        import asyncpg
        from execlog_db.url import database_name, to_asyncpg_dsn

        def test_a(database_url):
            open({str(out)!r}, "a").write(database_name(database_url) + "\\n")

        def test_b(database_url):
            open({str(out)!r}, "a").write(database_name(database_url) + "\\n")
            raise AssertionError("a failing test still drops its database")
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    names = out.read_text().split()
    assert len(names) == 2
    assert names[0] != names[1]
    for name in names:
        assert not database_exists(database_server_url, name)


def test_db_testing_key_prefix_unique_and_cleaned(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    import redis

    out = pytester.path / "prefixes.txt"
    pytester.makeconftest('pytest_plugins = ["execlog_db.testing"]')
    pytester.makepyfile(f"""
        import redis

        def test_a(broker_key_prefix, redis_url):
            redis.Redis.from_url(redis_url).set(broker_key_prefix + "k", "v")
            open({str(out)!r}, "a").write(broker_key_prefix + "\\n")

        def test_b(broker_key_prefix, redis_url):
            redis.Redis.from_url(redis_url).set(broker_key_prefix + "k", "v")
            open({str(out)!r}, "a").write(broker_key_prefix + "\\n")
        """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    prefixes = out.read_text().split()
    assert len(set(prefixes)) == 2
    client = redis.Redis.from_url(redis_url)
    try:
        for prefix in prefixes:
            assert list(client.scan_iter(match=f"{prefix}*")) == []
    finally:
        client.close()
