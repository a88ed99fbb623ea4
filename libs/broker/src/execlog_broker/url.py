"""Broker URL helpers: build from parts, check, redact."""

from __future__ import annotations

from urllib.parse import quote

from kombu.utils.url import maybe_sanitize_url

SCHEMES: tuple[str, ...] = ("redis://", "rediss://", "unix://", "sentinel://")
"""URL schemes :func:`check_url` accepts."""


def build_url(host: str, port: int, db: int, password: str | None = None) -> str:
    """``redis://[:password@]host:port/db``; the password is percent-encoded, empty means none."""
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


def is_sentinel(url: str) -> bool:
    """Whether ``url`` names Redis Sentinels (``sentinel://...;sentinel://...``)."""
    return url.startswith("sentinel://")


def check_url(url: str | None) -> str | None:
    """``url`` when its scheme is one of :data:`SCHEMES`; blank is None; else ValueError."""
    if not url:
        return None
    if not url.startswith(SCHEMES):
        raise ValueError("REDIS_URL must start with redis://, rediss://, unix:// or sentinel://")
    return url


def check_key_prefix(prefix: str) -> str:
    """``prefix`` unchanged, or ValueError when it contains whitespace."""
    if any(ch.isspace() for ch in prefix):
        raise ValueError("BROKER_KEY_PREFIX must not contain whitespace")
    return prefix


def check_sentinel_master(url: str, master: str | None) -> None:
    """ValueError when ``url`` is a sentinel:// URL and no master set name is given."""
    if is_sentinel(url) and not master:
        raise ValueError("a sentinel:// REDIS_URL needs REDIS_SENTINEL_MASTER")


def redact(url: str) -> str:
    """``url`` with its password masked (kombu's form), for logs."""
    text: str = maybe_sanitize_url(url)
    return text
