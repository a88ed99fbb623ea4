"""The request id both HTTP services bind to their log lines and echo in ``X-Request-ID``.

A request arriving with a well-formed ``X-Request-ID`` keeps it (so a request the API proxies to
the log-worker carries the same id in both services' logs); otherwise it gets a new one.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
CONTEXT_KEY = "request_id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Observer = Callable[[Scope, int, float], None]
"""Told of every finished HTTP request: its scope, response status and seconds taken."""


def current_request_id() -> str | None:
    """The request id bound in this context, if any."""
    value: Any = structlog.contextvars.get_contextvars().get(CONTEXT_KEY)
    return value if isinstance(value, str) else None


def incoming_request_id(scope: Scope) -> str:
    """The request's own well-formed ``X-Request-ID``, else a new one."""
    for name, value in scope.get("headers", []):
        if name == HEADER.encode():
            candidate = str(value.decode("latin-1"))
            if _WELL_FORMED.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds ``request_id`` for structlog, echoes it, and tells ``observe`` how each ended."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(**{CONTEXT_KEY: request_id}):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if self.observe is not None:
                    self.observe(scope, status_code, time.perf_counter() - started)
