"""Redis for the stack: use a given server when it answers, else run a private redis-server.

:class:`RedisServer` is a throwaway server on its own port and data folder, with AOF
persistence (``appendfsync always``) so that fault tests can stop, kill and restart it
without losing acknowledged writes.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from execlog_stack.binaries import find_binary
from execlog_stack.errors import ProcessFailedError
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


class RedisServer:
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
        self.process.start()
        try:
            self.process.wait_ready()
        except ProcessFailedError:
            self.process.kill()
            raise
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

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
