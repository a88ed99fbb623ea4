"""Synchronous ingest of one LogBatch (producers use it while the broker is down)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from execlog_worker.api.deps import SettingsDep, WriterDep, require_token
from execlog_worker.api.responses import json_response
from execlog_worker.ingest.batch import ingest

router = APIRouter(prefix="/v1", tags=["ingest"], dependencies=[Depends(require_token)])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a LogBatch of the execlog contract (execlog_schema)",
                }
            }
        },
    }
}


@router.post(
    "/batches",
    openapi_extra=_BODY_DOC,
    responses={
        200: {"description": "written: counts of new and duplicate records"},
        413: {"description": "body over API_MAX_BODY_BYTES"},
        422: {"description": "invalid batch: reason; stored as a dead letter"},
        503: {"description": "database unavailable: retry later"},
    },
)
async def post_batch(request: Request, writer: WriterDep, settings: SettingsDep) -> Response:
    """Validate and write one batch with the same code as the Celery task (idempotent)."""
    limit = settings.api_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    result = await ingest(bytes(body), writer, source="api")
    if result.status != "written":
        return json_response(
            {
                "detail": result.reason,
                "reason": result.reason,
                "batch_id": str(result.batch_id) if result.batch_id else None,
                "reject_id": result.reject_id,
            },
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return json_response(result.as_dict())
