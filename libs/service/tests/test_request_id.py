"""RequestIdMiddleware: an incoming id is kept, a bad or missing one replaced, each echoed."""

from __future__ import annotations

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Scope

from execlog_service.request_id import RequestIdMiddleware, current_request_id


def make_app(observed: list[tuple[str, int]]) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"bound": current_request_id()}, status_code=201)

    def observe(scope: Scope, status: int, elapsed: float) -> None:
        assert elapsed >= 0
        observed.append((scope["path"], status))

    app = Starlette(routes=[Route("/echo", echo)])
    app.add_middleware(RequestIdMiddleware, observe=observe)
    return app


async def test_the_id_is_kept_bound_echoed_and_observed() -> None:
    observed: list[tuple[str, int]] = []
    transport = httpx.ASGITransport(app=make_app(observed))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        kept = await client.get("/echo", headers={"X-Request-ID": "abc-123"})
        fresh = await client.get("/echo")
        refused = await client.get("/echo", headers={"X-Request-ID": "bad id\twith space"})
    assert kept.headers["x-request-id"] == "abc-123"
    assert kept.json() == {"bound": "abc-123"}
    for response in (fresh, refused):
        new_id = response.headers["x-request-id"]
        assert len(new_id) == 32, new_id
        assert response.json() == {"bound": new_id}
    assert refused.headers["x-request-id"] != "bad id\twith space"
    assert observed == [("/echo", 201)] * 3
    assert structlog.contextvars.get_contextvars().get("request_id") is None
