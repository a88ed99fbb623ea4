"""TcpProxy: forwards, cut (reset and blackhole, also before start), restore, url_for."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from execlog_stack.ports import free_port
from execlog_stack.proxy import TcpProxy
from execlog_stack.redis_server import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis", appendonly=False) as srv:
        yield srv


def _client(proxy: TcpProxy) -> redis.Redis:
    return redis.Redis(
        host=proxy.host,
        port=proxy.port,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )


def test_forwards_and_cut_reset_then_restore(server: RedisServer) -> None:
    with TcpProxy("127.0.0.1", server.port) as proxy:
        client = _client(proxy)
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        assert proxy.connections == 1
        proxy.cut("reset")
        assert proxy.is_cut
        with pytest.raises(redis.ConnectionError):
            client.get("k")
        with pytest.raises(redis.ConnectionError):
            _client(proxy).ping()
        proxy.restore()
        assert client.get("k") == b"v"
        client.close()


def test_blackhole_times_out_then_resumes(server: RedisServer) -> None:
    with TcpProxy("127.0.0.1", server.port) as proxy:
        client = _client(proxy)
        assert client.ping()
        proxy.cut("blackhole")
        began = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            _client(proxy).ping()
        assert time.monotonic() - began >= 0.4
        held = socket.create_connection((proxy.host, proxy.port), timeout=2)
        held.sendall(b"PING\r\n")
        proxy.restore()
        held.settimeout(2)
        assert held.recv(100) == b"+PONG\r\n"
        held.close()
        assert client.ping()
        client.close()


def test_close_drops_connections(server: RedisServer) -> None:
    proxy = TcpProxy("127.0.0.1", server.port).start()
    client = _client(proxy)
    assert client.ping()
    proxy.close()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


def test_cut_before_start_accepts_and_never_answers() -> None:
    proxy = TcpProxy("127.0.0.1", free_port())
    proxy.cut("blackhole")
    with proxy:
        held = socket.create_connection((proxy.host, proxy.port), timeout=2)
        held.sendall(b"PING\r\n")
        held.settimeout(0.5)
        with pytest.raises(TimeoutError):
            held.recv(100)
        assert proxy.accepted == 1
        assert proxy.connections == 1
        held.close()


def test_url_for_replaces_host_and_port_only() -> None:
    proxy = TcpProxy("db.example", 5432, listen_port=6543)
    assert (
        proxy.url_for("postgresql://u:p%40ss@db.example:5432/logs?sslmode=disable")
        == "postgresql://u:p%40ss@127.0.0.1:6543/logs?sslmode=disable"
    )
    assert proxy.url_for("postgresql://postgres@db.example/x") == (
        "postgresql://postgres@127.0.0.1:6543/x"
    )
    assert proxy.url_for("redis://db.example:6379/0") == "redis://127.0.0.1:6543/0"


def test_latency_delays_each_direction_and_can_change(server: RedisServer) -> None:
    with TcpProxy("127.0.0.1", server.port, latency=0.05) as proxy:
        client = _client(proxy)
        client.ping()
        started = time.perf_counter()
        assert client.get("missing") is None
        slow = time.perf_counter() - started
        proxy.latency = 0.0
        started = time.perf_counter()
        assert client.get("missing") is None
        fast = time.perf_counter() - started
        client.close()
    assert slow >= 0.1
    assert fast < 0.05
