"""The delivery chain: broker, else HTTP fallback (each behind a breaker), else the disk spool.

All of delivery is blocking code meant for the logger's sender/spill threads, never the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from execlog_producer.delivery.errors import DeliveryError, SpoolError, WorkerRejectedError
from execlog_producer.delivery.spool import DiskSpool
from execlog_schema.models import LogBatch


class BatchSender(Protocol):
    """Anything that delivers one batch or raises."""

    name: str

    def send(self, batch: LogBatch) -> None:
        """Deliver ``batch``; return only once it is acknowledged, else raise."""

    def close(self) -> None:
        """Release connections."""


class Breaker:
    """Skip a failing transport until a probe time that backs off exponentially."""

    def __init__(
        self, initial: float, maximum: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self.ok = True
        self._delay = initial
        self._probe_at = 0.0

    def allows(self) -> bool:
        """True when healthy or when the next probe is due."""
        return self.ok or self.clock() >= self._probe_at

    def seconds_until_probe(self) -> float:
        """0 when healthy, else time until the next probe."""
        return 0.0 if self.ok else max(0.0, self._probe_at - self.clock())

    def success(self) -> None:
        """Record a success: healthy again, backoff reset."""
        self.ok = True
        self._delay = self.initial

    def failure(self) -> None:
        """Record a failure: skip until now + delay, then double the delay (capped)."""
        self.ok = False
        self._probe_at = self.clock() + self._delay
        self._delay = min(self._delay * 2, self.maximum)


class Route(StrEnum):
    """Where a batch ended up."""

    BROKER = "broker"
    HTTP = "http"
    REJECTED = "rejected"
    SPOOL = "spool"


class DeliveryChain:
    """broker (with retry, behind a breaker) -> HTTP fallback (behind a breaker) -> disk spool."""

    def __init__(
        self,
        broker: BatchSender,
        spool: DiskSpool,
        http: BatchSender | None = None,
        *,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.broker = broker
        self.http = http
        self.spool = spool
        self.broker_breaker = Breaker(backoff, backoff_max, clock)
        self.http_breaker = Breaker(backoff, backoff_max, clock)
        self.on_failure = on_failure

    def send_network(self, batch: LogBatch) -> Route:
        """Broker, else HTTP fallback; raises DeliveryError when neither acknowledges."""
        errors: list[str] = []
        if self.broker_breaker.allows():
            try:
                self.broker.send(batch)
            except Exception as exc:
                self.broker_breaker.failure()
                errors.append(str(exc))
                self._failed("broker", str(exc))
            else:
                self.broker_breaker.success()
                return Route.BROKER
        else:
            errors.append("broker skipped (recently failed)")
        if self.http is not None and self.http_breaker.allows():
            try:
                self.http.send(batch)
            except WorkerRejectedError as exc:
                self.http_breaker.success()
                self._failed("http_rejected", str(exc))
                return Route.REJECTED
            except Exception as exc:
                self.http_breaker.failure()
                errors.append(str(exc))
                self._failed("http", str(exc))
            else:
                self.http_breaker.success()
                return Route.HTTP
        raise DeliveryError("; ".join(errors))

    def deliver(self, batch: LogBatch) -> Route:
        """Network first, then the spool; raises SpoolError only when even the spool fails."""
        try:
            return self.send_network(batch)
        except DeliveryError:
            pass
        try:
            self.spool.append(batch)
        except SpoolError as exc:
            self._failed("spool", str(exc))
            raise
        return Route.SPOOL

    def close(self) -> None:
        """Close every transport."""
        self.broker.close()
        if self.http is not None:
            self.http.close()
        self.spool.close()

    def _failed(self, transport: str, error: str) -> None:
        if self.on_failure is not None:
            self.on_failure(transport, error)
