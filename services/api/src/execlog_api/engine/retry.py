"""RetryService: run a step attempt up to ``max_attempts`` times with exponential backoff."""

from __future__ import annotations

import asyncio
import random
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from execlog_api.engine.runners import StepContext, StepError
from execlog_schema.models import LogLevel

T = TypeVar("T")
TRACEBACK_CHARS = 4000
COMPONENT = "retry_service"


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff ``base * multiplier**(attempt-1)``, capped at ``maximum``, +/- ``jitter`` share."""

    max_attempts: int = 3
    base: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        raw = min(self.maximum, self.base * self.multiplier ** max(0, attempt - 1))
        if self.jitter:
            raw *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(0.0, raw)


class StepFailedError(Exception):
    """Every attempt failed; ``attempts`` made, ``last`` is the final error."""

    def __init__(self, message: str, attempts: int, last: BaseException) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Error type, message, step payload and a bounded traceback, for a log payload."""
    payload: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, StepError) and exc.payload:
        payload["details"] = exc.payload
    text = "".join(traceback.format_exception(exc))
    payload["traceback"] = text[-TRACEBACK_CHARS:]
    return payload


class RetryService:
    """Runs ``attempt_fn(ctx)`` for attempts 1..max, logging each failure, retry and give-up."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._sleep = sleep

    async def run(
        self,
        make_context: Callable[[int], StepContext],
        attempt_fn: Callable[[StepContext], Awaitable[T]],
        policy: RetryPolicy,
    ) -> tuple[T, int]:
        """Return ``(result, attempts used)`` or raise StepFailedError after the last attempt."""
        attempt = 1
        while True:
            ctx = make_context(attempt)
            try:
                return await attempt_fn(ctx), attempt
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                payload = {
                    "attempt": attempt,
                    "max_attempts": policy.max_attempts,
                    "error": error_payload(exc),
                }
                if attempt >= policy.max_attempts:
                    ctx.log(
                        LogLevel.ERROR,
                        f"step {ctx.node_id} failed after {attempt} attempt(s): {exc}",
                        component=COMPONENT,
                        payload=payload,
                    )
                    raise StepFailedError(str(exc), attempt, exc) from exc
                delay = policy.delay(attempt)
                ctx.log(
                    LogLevel.WARNING,
                    f"step {ctx.node_id} attempt {attempt}/{policy.max_attempts} failed: {exc}; "
                    f"retrying in {delay:.2f}s",
                    component=COMPONENT,
                    payload={**payload, "retry_in_seconds": round(delay, 3)},
                )
                await self._sleep(delay)
                attempt += 1
