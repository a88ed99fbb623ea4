"""kombu transport options both services derive from the broker settings."""

from __future__ import annotations

from typing import Any

from kombu.connection import Connection

BODY_ENCODING_OPTION = "body_encoding"
BODY_ENCODING = "utf-8"


def sentinel_kwargs(password: str | None) -> dict[str, str] | None:
    """``sentinel_kwargs`` for the sentinels' own password; None when they need none."""
    return {"password": password} if password else None


def transport_options(
    *,
    key_prefix: str = "",
    sentinel_master: str | None = None,
    sentinel_password: str | None = None,
) -> dict[str, Any]:
    """The shared part of ``broker_transport_options``: body encoding, Sentinel, key prefix.

    ``master_name`` (and ``sentinel_kwargs``) only with a master set name; ``global_keyprefix``
    only with a non-empty prefix. Timeouts and the rest differ per service and are not here.
    """
    options: dict[str, Any] = {
        # The task body is JSON text already; kombu's default base64s it inside its JSON
        # envelope. Kept as text, a 500-record publish costs half the producer CPU and the
        # message is 16 % smaller (BENCHMARKS.md). Each message names its own encoding, so a
        # worker reads base64 and utf-8 messages alike (mixed queues during a rollout).
        BODY_ENCODING_OPTION: BODY_ENCODING,
    }
    if sentinel_master:
        # Sentinel: kombu asks the sentinels of the sentinel:// URL for this master's address.
        options["master_name"] = sentinel_master
        kwargs = sentinel_kwargs(sentinel_password)
        if kwargs is not None:
            options["sentinel_kwargs"] = kwargs
    if key_prefix:
        # Every Redis key (queues, unacked hash, bindings) under one prefix: isolation.
        options["global_keyprefix"] = key_prefix
    return options


def load_transport(url: str) -> str:
    """Import kombu's transport for ``url``'s scheme and its client library, without connecting.

    kombu picks the transport module by name from the URL scheme when a connection is first
    used: this makes a missing one (or a missing redis-py) fail at startup instead.
    """
    connection = Connection(url)  # type: ignore[no-untyped-call]
    try:
        return str(connection.transport.driver_name)
    finally:
        connection.release()  # type: ignore[no-untyped-call]
