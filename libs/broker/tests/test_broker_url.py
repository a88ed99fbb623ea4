"""Broker URL helpers: build from parts, scheme and prefix checks, redaction."""

import pytest

from execlog_broker.url import (
    build_url,
    check_key_prefix,
    check_sentinel_master,
    check_url,
    is_sentinel,
    redact,
)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        (None, "redis://h:6380/2"),
        ("", "redis://h:6380/2"),
        ("secret", "redis://:secret@h:6380/2"),
        ("p@ss/word", "redis://:p%40ss%2Fword@h:6380/2"),
    ],
)
def test_broker_build_url(password: str | None, expected: str) -> None:
    assert build_url("h", 6380, 2, password) == expected


@pytest.mark.parametrize(
    "url",
    [
        "redis://h:6379/0",
        "rediss://:p@h:6380/1",
        "unix:///run/redis.sock",
        "sentinel://s1:26379/0;sentinel://s2:26379/0",
    ],
)
def test_broker_check_url_accepts(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize("url", [None, ""])
def test_broker_check_url_blank_is_unset(url: str | None) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize("url", ["http://x", "memory://", "h:6379"])
def test_broker_check_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match=r"^REDIS_URL must start with redis://, rediss://"):
        check_url(url)


def test_broker_check_key_prefix() -> None:
    assert check_key_prefix("") == ""
    assert check_key_prefix("t1:") == "t1:"
    for bad in ("t 1:", "t1:\n", "\tt1"):
        with pytest.raises(ValueError, match="BROKER_KEY_PREFIX must not contain whitespace"):
            check_key_prefix(bad)


def test_broker_sentinel_needs_a_master() -> None:
    assert is_sentinel("sentinel://s1:26379/0")
    assert not is_sentinel("redis://h:6379/0")
    check_sentinel_master("sentinel://s1:26379/0", "m")
    check_sentinel_master("redis://h:6379/0", None)
    for master in (None, ""):
        with pytest.raises(ValueError, match="needs REDIS_SENTINEL_MASTER"):
            check_sentinel_master("sentinel://s1:26379/0", master)


def test_broker_redact_masks_the_password() -> None:
    assert redact("redis://:s3cret@h:6379/0") == "redis://:**@h:6379/0"
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
    assert "s3cret" not in redact("rediss://user:s3cret@h:6380/1")
