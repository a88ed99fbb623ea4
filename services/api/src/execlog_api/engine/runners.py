"""Runners: one per step kind (sleep, echo, http, fail); each logs what it does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from execlog_api.step_specs import EchoStep, FailStep, HttpStep, SleepStep
from execlog_producer import ExecutionLog, ExecutionLogger
from execlog_schema.models import LogLevel

BODY_PREVIEW_CHARS = 2000


class StepError(Exception):
    """A step attempt failed; ``payload`` is logged with the error."""

    def __init__(self, message: str, payload: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.payload = dict(payload or {})


class HostNotAllowedError(StepError):
    """An http step targets a host outside HTTP_STEP_ALLOWED_HOSTS."""


@dataclass(frozen=True)
class StepContext:
    """What a runner knows about the attempt it runs."""

    execution_id: uuid.UUID
    workflow_id: uuid.UUID | None
    node_id: str
    position: int
    attempt: int
    max_attempts: int
    logger: ExecutionLogger

    def log(
        self,
        level: LogLevel,
        message: str,
        *,
        component: str = "runner",
        payload: Mapping[str, Any] | None = None,
        error: BaseException | None = None,
    ) -> ExecutionLog:
        """Log for this step and attempt."""
        return self.logger.log(
            self.execution_id,
            level,
            message,
            node_id=self.node_id,
            component=component,
            payload=payload,
            workflow_id=self.workflow_id,
            attempt=self.attempt,
            error=error,
        )


class Runner(Protocol):
    """Runs one attempt of a step kind; returns a JSON-able output or raises."""

    kind: str

    async def run(self, ctx: StepContext, spec: Any) -> dict[str, Any]:
        """Run one attempt."""


class SleepRunner:
    """``sleep``: wait, logging start and end."""

    kind = "sleep"

    async def run(self, ctx: StepContext, spec: SleepStep) -> dict[str, Any]:
        """Sleep ``spec.seconds``."""
        ctx.log(LogLevel.INFO, f"sleep {spec.seconds}s started", payload={"seconds": spec.seconds})
        started = time.perf_counter()
        await asyncio.sleep(spec.seconds)
        elapsed = round(time.perf_counter() - started, 6)
        ctx.log(LogLevel.INFO, "sleep done", payload={"elapsed_seconds": elapsed})
        return {"slept_seconds": elapsed}


class EchoRunner:
    """``echo``: log the message with its data."""

    kind = "echo"

    async def run(self, ctx: StepContext, spec: EchoStep) -> dict[str, Any]:
        """Log and return the message and data."""
        ctx.log(LogLevel.INFO, spec.message, payload=spec.data)
        return {"message": spec.message, "data": spec.data}


class HttpRunner:
    """``http``: one httpx request; a transport error or unexpected status fails the attempt."""

    kind = "http"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_timeout: float = 30.0,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self.max_timeout = max_timeout
        self.allowed_hosts = allowed_hosts

    def check_host(self, spec: HttpStep) -> None:
        """Raise HostNotAllowedError when an allow-list is set and the host is not on it."""
        host = (spec.url.host or "").lower()
        if self.allowed_hosts and host not in self.allowed_hosts:
            raise HostNotAllowedError(
                f"host {host!r} is not in HTTP_STEP_ALLOWED_HOSTS", {"host": host}
            )

    async def run(self, ctx: StepContext, spec: HttpStep) -> dict[str, Any]:
        """Send the request and check the status."""
        self.check_host(spec)
        url = str(spec.url)
        timeout = min(spec.timeout, self.max_timeout)
        ctx.log(
            LogLevel.INFO,
            f"http {spec.method} {url}",
            payload={
                "method": spec.method,
                "url": url,
                "headers": spec.headers,
                "timeout": timeout,
            },
        )
        started = time.perf_counter()
        try:
            response = await self.client.request(
                spec.method,
                url,
                headers=spec.headers,
                json=spec.body if spec.body is not None else None,
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise StepError(
                f"http {spec.method} {url} failed: {type(exc).__name__}: {exc}",
                {"method": spec.method, "url": url},
            ) from exc
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        preview = response.text[:BODY_PREVIEW_CHARS] if spec.method != "HEAD" else ""
        result = {
            "status_code": response.status_code,
            "elapsed_ms": elapsed_ms,
            "body_preview": preview,
        }
        expected = (
            response.status_code in spec.expect_status
            if spec.expect_status is not None
            else response.status_code < 400
        )
        if not expected:
            raise StepError(
                f"http {spec.method} {url} answered {response.status_code}",
                {**result, "expect_status": spec.expect_status},
            )
        ctx.log(
            LogLevel.INFO,
            f"http {spec.method} {url} -> {response.status_code}",
            payload={"status_code": response.status_code, "elapsed_ms": elapsed_ms},
        )
        return result


class FailRunner:
    """``fail``: raise, always or for the first ``fail_times`` attempts."""

    kind = "fail"

    async def run(self, ctx: StepContext, spec: FailStep) -> dict[str, Any]:
        """Fail or, past ``fail_times``, succeed."""
        if spec.fail_times is None or ctx.attempt <= spec.fail_times:
            raise StepError(spec.message, {"fail_times": spec.fail_times})
        ctx.log(LogLevel.INFO, f"fail step passes on attempt {ctx.attempt}")
        return {"passed_on_attempt": ctx.attempt}


def default_runners(
    client: httpx.AsyncClient,
    *,
    http_max_timeout: float = 30.0,
    allowed_hosts: frozenset[str] = frozenset(),
) -> dict[str, Runner]:
    """The registry of built-in runners by kind."""
    runners: list[Runner] = [
        SleepRunner(),
        EchoRunner(),
        HttpRunner(client, max_timeout=http_max_timeout, allowed_hosts=allowed_hosts),
        FailRunner(),
    ]
    return {r.kind: r for r in runners}
