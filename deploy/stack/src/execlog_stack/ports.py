"""Free TCP ports and waits for a port to open or close."""

from __future__ import annotations

import socket
import time

_given: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (never the same twice in this process)."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port
    raise RuntimeError("no free TCP port found")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports."""
    return [free_port(host) for _ in range(count)]


def port_open(host: str, port: int, timeout: float = 0.25) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, *, timeout: float = 10.0, open_: bool = True) -> bool:
    """Poll until ``host:port`` is open (or closed, with ``open_=False``); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if port_open(host, port) == open_:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
