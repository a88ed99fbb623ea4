"""kombu transport options both services derive from the broker settings."""

from __future__ import annotations

from typing import Any


def sentinel_kwargs(password: str | None) -> dict[str, str] | None:
    """``sentinel_kwargs`` for the sentinels' own password; None when they need none."""
    return {"password": password} if password else None


def transport_options(
    *,
    key_prefix: str = "",
    sentinel_master: str | None = None,
    sentinel_password: str | None = None,
) -> dict[str, Any]:
    """The shared part of ``broker_transport_options``: Sentinel master and key prefix.

    ``master_name`` (and ``sentinel_kwargs``) only with a master set name; ``global_keyprefix``
    only with a non-empty prefix. Timeouts and the rest differ per service and are not here.
    """
    options: dict[str, Any] = {}
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
