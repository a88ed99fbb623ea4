"""A throwaway redis-server: start, AOF survives stop/kill, restart on the same port; a sentinel."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from execlog_stack.redis_server import RedisSentinel, RedisServer, redis_answers, sentinel_knows

pytestmark = pytest.mark.timeout(60)


def test_redis_server_keeps_data_across_stop_and_kill(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    with server:
        url = server.url()
        assert redis_answers(url)
        client = redis.Redis.from_url(url)
        client.rpush("q", b"a", b"b")
        server.restart()
        assert client.lrange("q", 0, -1) == [b"a", b"b"]
        client.rpush("q", b"c")
        server.kill()
        assert not server.running
        assert not redis_answers(url, timeout=0.2)
        server.start()
        assert client.lrange("q", 0, -1) == [b"a", b"b", b"c"]
        client.close()
    assert not server.running
    assert not redis_answers(url, timeout=0.2)
    assert (tmp_path / "redis" / "redis.log").exists()


def test_redis_answers_false_for_nothing_listening() -> None:
    assert not redis_answers("redis://127.0.0.1:1/0", timeout=0.2)


def test_redis_sentinel_finds_the_master_and_stops(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        sentinel = RedisSentinel(tmp_path / "sentinel", server.url(), "stackmaster")
        assert not sentinel_knows(sentinel.host, sentinel.port, "stackmaster", timeout=0.2)
        with sentinel:
            client = redis.Redis(host=sentinel.host, port=sentinel.port, decode_responses=True)
            assert client.sentinel_get_master_addr_by_name("stackmaster") == (
                server.host,
                server.port,
            )
            client.close()
            assert sentinel.url(2) == f"sentinel://{sentinel.host}:{sentinel.port}/2"
        assert not sentinel.process.running
        assert not sentinel_knows(sentinel.host, sentinel.port, "stackmaster", timeout=0.2)
