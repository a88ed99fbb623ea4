"""The log-worker read API's answers (``GET /v1/executions/{id}/logs``): the log-worker serves
them, the API proxies them; one definition keeps both OpenAPI documents the same."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel

from execlog_schema.models import LogLevel


class LogItem(BaseModel):
    """One stored record, as log-worker returns it."""

    id: UUID
    execution_id: UUID
    workflow_id: UUID | None
    node_id: str | None
    component: str
    level: LogLevel
    message: str
    payload: dict[str, Any]
    attempt: int | None
    trace_id: str | None = None
    span_id: str | None = None
    created_at: AwareDatetime
    received_at: AwareDatetime
    batch_id: UUID
    schema_version: str
    producer: str
    seq: int


class LogPage(BaseModel):
    """One page; send ``next_cursor`` back as ``cursor`` for the next page, or ``tail_cursor``
    to ``/logs/stream`` to follow new records from the end of this listing."""

    execution_id: UUID
    items: list[LogItem]
    next_cursor: str | None
    tail_cursor: str
