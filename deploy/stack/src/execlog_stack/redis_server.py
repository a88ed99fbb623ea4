"""Redis for the stack: use a given server when it answers, else run a private redis-server.

:class:`RedisServer` is a throwaway server on its own port and data folder, with AOF
persistence (``appendfsync always``) so that fault tests can stop, kill and restart it
without losing acknowledged writes. :class:`RedisSentinel` is a throwaway Redis Sentinel
monitoring a given server, for clients that find their master through Sentinel.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import redis

from execlog_stack.binaries import find_binary
from execlog_stack.lifecycle import Lifecycle
from execlog_stack.ports import free_port, wait_port
from execlog_stack.process import ManagedProcess, ProcessSpec


def redis_answers(url: str, *, timeout: float = 1.0) -> bool:
    """Whether a Redis server at ``url`` answers PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


class RedisServer(Lifecycle):
    """A redis-server of our own on ``127.0.0.1:port`` with its data in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        appendonly: bool = True,
        fsync: str = "always",
        ready_timeout: float = 15.0,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.appendonly = appendonly
        self.fsync = fsync
        self.binary = find_binary("redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            ProcessSpec(
                name=f"redis:{self.port}",
                argv=self._argv(),
                env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
                log_path=self.data_dir / "redis.log",
                cwd=self.data_dir,
                ready=lambda: redis_answers(self.url(), timeout=0.5),
                ready_timeout=ready_timeout,
                stop_grace=10.0,
            )
        )

    def _argv(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.fsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            "",
        ]

    def url(self, db: int = 0) -> str:
        """``redis://host:port/db`` of this server."""
        return f"redis://{self.host}:{self.port}/{db}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process.running

    def start(self) -> Self:
        """Start (or start again, on the same port and data) and wait until it answers PING."""
        self.process.start_ready()
        return self

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM: redis fsyncs the AOF) and wait until the port is closed."""
        self.process.stop()
        wait_port(self.host, self.port, timeout=5.0, open_=False)

    def kill(self) -> None:
        """SIGKILL: acknowledged writes survive only through the AOF (fsync always)."""
        self.process.kill()
        wait_port(self.host, self.port, timeout=5.0, open_=False)

    def restart(self, *, down_for: float = 0.0, hard: bool = False) -> None:
        """Stop (or kill with ``hard``), stay down ``down_for`` seconds, start again."""
        if hard:
            self.kill()
        else:
            self.stop()
        if down_for > 0:
            time.sleep(down_for)
        self.start()

    def _started_already(self) -> bool:
        return self.running


def sentinel_knows(host: str, port: int, master_name: str, *, timeout: float = 1.0) -> bool:
    """Whether the sentinel at ``host:port`` answers with the address of ``master_name``."""
    client = redis.Redis(
        host=host, port=port, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        return bool(client.sentinel_get_master_addr_by_name(master_name))
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


class RedisSentinel(Lifecycle):
    """``redis-server --sentinel`` on ``host:port`` monitoring the server at ``master_url`` as
    ``master_name`` (quorum 1); its config and state live in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        master_url: str,
        master_name: str,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        ready_timeout: float = 10.0,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.master_name = master_name
        master = urlsplit(master_url)
        binary = find_binary("redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind {host}\ndir {self.data_dir}\n"
            f"sentinel monitor {master_name} {master.hostname or '127.0.0.1'} "
            f"{master.port or 6379} 1\n",
            encoding="utf-8",
        )
        self.process = ManagedProcess(
            ProcessSpec(
                name=f"redis-sentinel:{self.port}",
                argv=[binary, str(config), "--sentinel"],
                env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
                log_path=self.data_dir / "sentinel.log",
                cwd=self.data_dir,
                ready=lambda: sentinel_knows(self.host, self.port, master_name, timeout=0.5),
                ready_timeout=ready_timeout,
                stop_grace=10.0,
            )
        )

    def url(self, db: int = 0) -> str:
        """``sentinel://host:port/db``: a client URL that finds the master through this sentinel."""
        return f"sentinel://{self.host}:{self.port}/{db}"

    def start(self) -> Self:
        """Start and wait until the sentinel knows the master's address."""
        self.process.start_ready()
        return self

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s) and reap."""
        self.process.stop()
