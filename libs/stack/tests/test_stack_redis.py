"""A throwaway redis-server: start, AOF survives stop/kill, restart on the same port."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from execlog_stack.redis_server import RedisServer, redis_answers

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
