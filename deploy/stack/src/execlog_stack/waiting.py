"""Poll instead of sleeping: wait until a condition holds, with a deadline and a clear failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):  # noqa: N818 (reads as "wait timed out" in test output)
    """The condition did not hold before the deadline."""


def wait_for(
    check: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    max_interval: float = 0.5,
    what: str = "condition",
) -> T:
    """Call ``check`` until it returns something truthy, and return that; else WaitTimeout."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what} not reached within {timeout:.1f}s (last: {value!r})")
        time.sleep(delay)
        delay = min(delay * 1.5, max_interval)


async def async_wait_for(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    interval: float = 0.05,
    max_interval: float = 0.5,
    what: str = "condition",
) -> T:
    """Async form of :func:`wait_for` (``check`` is a coroutine function)."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what} not reached within {timeout:.1f}s (last: {value!r})")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, max_interval)
