"""Redis clients for the broker (queue length, readiness), plain or through Redis Sentinel.

A ``sentinel://[:password@]host:port[/db];sentinel://...`` REDIS_URL plus REDIS_SENTINEL_MASTER
is what kombu's Sentinel transport takes; these helpers resolve the current master the same
way (password and db for the master, REDIS_SENTINEL_PASSWORD only for the sentinels).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from execlog_broker.url import is_sentinel
from execlog_worker.settings import Settings


@dataclass(frozen=True)
class SentinelTarget:
    """Sentinel addresses and the master's credentials, parsed from a sentinel:// URL."""

    hosts: list[tuple[str, int]]
    password: str | None
    db: int


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Parse ``sentinel://...;sentinel://...`` (password and db from the first that has them)."""
    hosts: list[tuple[str, int]] = []
    password: str | None = None
    db = 0
    for part in url.split(";"):
        split = urlsplit(part.strip())
        if split.scheme != "sentinel" or not split.hostname:
            raise ValueError(f"not a sentinel:// URL: {part!r}")
        hosts.append((split.hostname, split.port or 26379))
        if password is None and split.password:
            password = unquote(split.password)
        path = split.path.strip("/")
        if path.isdigit():
            db = int(path)
    return SentinelTarget(hosts, password, db)


def redis_client(settings: Settings, timeout: float = 2.0) -> redis.Redis:
    """A client of the broker's Redis (the current master when behind Sentinel)."""
    url = settings.broker_url
    if not is_sentinel(url):
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    target = parse_sentinel_url(url)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        target.hosts,
        sentinel_kwargs=settings.sentinel_kwargs,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master or "mymaster", password=target.password, db=target.db
    )
    return master


def async_redis_client(settings: Settings, timeout: float = 2.0) -> aioredis.Redis:
    """The asyncio form of :func:`redis_client`."""
    url = settings.broker_url
    if not is_sentinel(url):
        return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    target = parse_sentinel_url(url)
    sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
        target.hosts,
        sentinel_kwargs=settings.sentinel_kwargs,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    master: aioredis.Redis = sentinel.master_for(
        settings.redis_sentinel_master or "mymaster", password=target.password, db=target.db
    )
    return master
