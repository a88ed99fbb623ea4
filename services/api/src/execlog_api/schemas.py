"""Request and response models of the HTTP API (these make the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from execlog_api.db.models import ExecutionStatus, StepStatus
from execlog_api.step_specs import TEXT, StepSpec
from execlog_schema.limits import (
    MAX_ATTEMPT,
    MAX_COMPONENT_LEN,
    MAX_MESSAGE_CHARS,
    MAX_NODE_ID_LEN,
    MAX_RECORDS_PER_BATCH,
)
from execlog_schema.models import LogLevel

MAX_STEPS = 100


class ExecutionCreate(BaseModel):
    """Start an execution of ``steps``, run in order."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "demo",
                    "steps": [
                        {"kind": "echo", "message": "hello", "data": {"user": "ada"}},
                        {"kind": "sleep", "seconds": 0.5},
                        {"kind": "fail", "fail_times": 1, "max_attempts": 2},
                    ],
                }
            ]
        },
    )

    workflow_id: uuid.UUID | None = Field(default=None, description="Workflow this run belongs to.")
    name: Annotated[str, Field(max_length=200, pattern=TEXT)] | None = None
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)


class ExecutionAccepted(BaseModel):
    """The execution was recorded and started in the background."""

    id: uuid.UUID
    status: ExecutionStatus
    links: dict[str, str]


class StepOut(BaseModel):
    """One step and its result so far."""

    position: int
    node_id: str
    kind: str
    status: StepStatus
    attempts: int
    max_attempts: int
    spec: dict[str, Any]
    output: Any | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ExecutionOut(BaseModel):
    """An execution with its steps."""

    id: uuid.UUID
    workflow_id: uuid.UUID | None
    name: str | None
    status: ExecutionStatus
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: list[StepOut]


class LogRecordIn(BaseModel):
    """One record from an external runner (the API adds id, time and execution id)."""

    model_config = ConfigDict(extra="forbid")

    level: LogLevel = LogLevel.INFO
    message: str = Field(
        max_length=4 * MAX_MESSAGE_CHARS,
        description=f"Cut to {MAX_MESSAGE_CHARS} chars with a visible marker when longer.",
    )
    node_id: Annotated[str, Field(min_length=1, max_length=MAX_NODE_ID_LEN)] | None = None
    component: Annotated[str, Field(min_length=1, max_length=MAX_COMPONENT_LEN)] = "external"
    payload: dict[str, Any] | None = Field(
        default=None, description="Any JSON object; sensitive keys are redacted."
    )
    attempt: Annotated[int, Field(ge=0, le=MAX_ATTEMPT)] | None = None


class LogIngest(BaseModel):
    """Records to log for one execution."""

    model_config = ConfigDict(extra="forbid")

    records: list[LogRecordIn] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)


class LogIngestAccepted(BaseModel):
    """Records accepted by the producer (shipped in the background)."""

    accepted: int
    ids: list[uuid.UUID]


class Problem(BaseModel):
    """Error body: ``detail`` says what went wrong."""

    detail: Any


class Health(BaseModel):
    """Liveness/readiness answer."""

    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
