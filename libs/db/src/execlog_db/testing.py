"""pytest plugin: a fresh throwaway PostgreSQL database and a private Redis key prefix per test.

Enable with ``pytest_plugins = ["execlog_db.testing"]`` in a conftest.py.
Environment: DATABASE_URL (server to create databases on), REDIS_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from execlog_db.admin import create_database, database_url_for, drop_database

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_PREFIX = "etest_"
KEY_PREFIX = "etest-"


def _unique() -> str:
    return uuid.uuid4().hex[:20]


@pytest.fixture(scope="session")
def database_server_url() -> str:
    """URL of the server (and maintenance database) the throwaway databases are made on."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


@pytest.fixture()
def database_url(database_server_url: str) -> Iterator[str]:
    """URL of a new, empty database for this test; dropped (WITH FORCE) afterwards."""
    name = f"{DATABASE_PREFIX}{_unique()}"
    create_database(database_server_url, name)
    try:
        yield database_url_for(database_server_url, name)
    finally:
        drop_database(database_server_url, name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the shared Redis server (never flushed: use ``broker_key_prefix``)."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


@pytest.fixture()
def broker_key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix private to this test; every key under it is deleted afterwards."""
    prefix = f"{KEY_PREFIX}{_unique()}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            batch = [key for key in client.scan_iter(match=f"{prefix}*", count=500)]
            for start in range(0, len(batch), 500):
                client.delete(*batch[start : start + 500])
        except redis.RedisError:
            pass
        finally:
            client.close()
