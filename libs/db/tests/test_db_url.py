"""URL normalisation between SQLAlchemy/asyncpg forms."""

import pytest

from execlog_db.admin import database_url_for
from execlog_db.url import database_name, redact, to_async_url, to_asyncpg_dsn


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        (
            "postgresql+psycopg://u@h/d?sslmode=require",
            "postgresql+asyncpg://u@h/d?sslmode=require",
        ),
    ],
)
def test_db_url_to_async(given: str, expected: str) -> None:
    assert to_async_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+asyncpg://u:p@h:5432/d", "postgresql://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql://u@h/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
    ],
)
def test_db_url_to_asyncpg_dsn(given: str, expected: str) -> None:
    assert to_asyncpg_dsn(given) == expected


def test_db_url_password_special_chars_survive() -> None:
    url = "postgresql://user:p%40ss%2Fw@h/d"
    assert to_asyncpg_dsn(to_async_url(url)) == url
    assert "p%40ss" not in redact(url)


def test_db_url_rejects_non_postgres() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        to_async_url("mysql://u@h/d")


def test_db_url_database_url_for_keeps_driver() -> None:
    out = database_url_for("postgresql+asyncpg://u:p@h:1/postgres", "other_db")
    assert out == "postgresql+asyncpg://u:p@h:1/other_db"
    assert database_name(out) == "other_db"
    with pytest.raises(ValueError, match="invalid database name"):
        database_url_for(out, 'x"; DROP')
