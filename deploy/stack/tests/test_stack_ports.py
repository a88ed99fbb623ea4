"""Free-port finding and port waits."""

from __future__ import annotations

import socket

from execlog_stack.ports import free_port, free_ports, port_open, wait_port


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_wait_port_sees_open_and_closed() -> None:
    port = free_port()
    assert not port_open("127.0.0.1", port)
    assert not wait_port("127.0.0.1", port, timeout=0.1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert wait_port("127.0.0.1", port, timeout=2)
    assert wait_port("127.0.0.1", port, timeout=2, open_=False)
