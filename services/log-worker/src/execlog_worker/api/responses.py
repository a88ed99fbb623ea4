"""orjson-encoded JSON responses (payloads are embedded as stored JSON text, not re-parsed)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response encoded by orjson (UUIDs, datetimes and ``orjson.Fragment`` allowed)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
