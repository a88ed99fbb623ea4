"""A tiny TCP proxy that can be cut and restored: "PostgreSQL unreachable" on demand.

Put it between a process and a server (give the process ``proxy.port`` instead of the
server's port). :meth:`TcpProxy.cut` has two modes:

- ``"reset"``: every open connection is reset and new ones are reset at once
  (the server went away: clients see connection errors immediately);
- ``"blackhole"``: connections stay open but no byte moves in either direction and new
  connections are accepted but not forwarded (a network partition: clients see timeouts).

:meth:`TcpProxy.restore` lets traffic flow again (held blackhole connections resume).
A proxy cut before :meth:`TcpProxy.start` is a server that accepts and never answers.
``latency`` (seconds, settable at any time) holds every forwarded chunk that long in each
direction: a database one network hop away instead of on loopback.
:meth:`TcpProxy.url_for` reroutes a client URL (PostgreSQL, Redis, ...) through the proxy.
Threads only (one acceptor, two pumps per connection); nothing here needs an event loop.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from typing import Literal, Self
from urllib.parse import urlsplit, urlunsplit

from execlog_stack.lifecycle import Lifecycle
from execlog_stack.ports import free_port

CutMode = Literal["reset", "blackhole"]
_POLL = 0.05


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: TcpProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()

    def run(self) -> None:
        try:
            if not self.proxy._wait_flowing(self.closed):
                return
            try:
                self.upstream = socket.create_connection(self.proxy.target, timeout=5.0)
            except OSError:
                return
            self.upstream.settimeout(None)
            back = threading.Thread(
                target=self._pump, args=(self.upstream, self.client), daemon=True
            )
            back.start()
            self._pump(self.client, self.upstream)
            back.join()
        finally:
            self.close(reset=False)
            self.proxy._forget(self)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self.closed.is_set():
            if not self.proxy._wait_flowing(self.closed):
                return
            try:
                readable, _, _ = select.select([src], [], [], _POLL)
            except (OSError, ValueError):
                break
            if not readable:
                continue
            if not self.proxy._wait_flowing(self.closed):
                return
            try:
                data = src.recv(65536)
                if not data:
                    break
                if self.proxy.latency > 0:
                    time.sleep(self.proxy.latency)
                dst.sendall(data)
            except OSError:
                break
        self.close(reset=False)

    def close(self, *, reset: bool) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


class TcpProxy(Lifecycle):
    """Forward ``listen_host:port`` to ``target_host:target_port`` until cut."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int | None = None,
        latency: float = 0.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.latency = latency
        self.host = listen_host
        self.port = listen_port if listen_port is not None else free_port(listen_host)
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._mode: CutMode | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.accepted = 0

    @property
    def is_cut(self) -> bool:
        """Whether traffic is currently cut."""
        return self._mode is not None

    @property
    def connections(self) -> int:
        """Client connections currently open through the proxy."""
        with self._lock:
            return len(self._links)

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (credentials, path kept)."""
        parts = urlsplit(url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{self.host}:{self.port}"))

    def start(self) -> Self:
        """Listen and start forwarding."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(_POLL)
        self._listener = listener
        self._stopped.clear()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"tcp-proxy:{self.port}", daemon=True
        )
        self._acceptor.start()
        return self

    def cut(self, mode: CutMode = "reset") -> None:
        """Stop all traffic (see the module doc for the two modes)."""
        with self._lock:
            self._mode = mode
            self._flowing.clear()
            links = list(self._links) if mode == "reset" else []
        for link in links:
            link.close(reset=True)

    def restore(self) -> None:
        """Let traffic flow again."""
        with self._lock:
            self._mode = None
            self._flowing.set()

    def stop(self) -> None:
        """:meth:`close` (the :class:`Lifecycle` name)."""
        self.close()

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._stopped.set()
        self._flowing.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(reset=True)

    def _wait_flowing(self, closed: threading.Event) -> bool:
        while not self._flowing.wait(_POLL):
            if closed.is_set() or self._stopped.is_set():
                return False
        return not (closed.is_set() or self._stopped.is_set())

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.accepted += 1
            with self._lock:
                mode = self._mode
                if mode != "reset":
                    link = _Link(self, client)
                    self._links.add(link)
            if mode == "reset":
                _reset(client)
                continue
            client.setblocking(True)
            threading.Thread(
                target=link.run, name=f"tcp-proxy-link:{self.port}", daemon=True
            ).start()
