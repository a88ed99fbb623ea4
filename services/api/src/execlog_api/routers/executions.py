"""Executions: start one (202, runs in the background) and read its state."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Response, status

from execlog_api.db import repository as repo
from execlog_api.db.models import Execution, ExecutionStatus
from execlog_api.deps import ServicesDep, SessionDep
from execlog_api.engine.runners import HostNotAllowedError
from execlog_api.schemas import ExecutionAccepted, ExecutionCreate, ExecutionOut, Problem, StepOut
from execlog_api.step_specs import HttpStep
from execlog_db.session import session_scope

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No execution with this id."}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "Database unavailable or service shutting down."}
}


def execution_out(execution: Execution) -> ExecutionOut:
    """Response model of an ORM execution."""
    return ExecutionOut(
        id=execution.id,
        workflow_id=execution.workflow_id,
        name=execution.name,
        status=ExecutionStatus(execution.status),
        error=execution.error,
        created_at=execution.created_at,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
        steps=[
            StepOut.model_validate(
                {
                    "position": s.position,
                    "node_id": s.node_id,
                    "kind": s.kind,
                    "status": s.status,
                    "attempts": s.attempts,
                    "max_attempts": s.max_attempts,
                    "spec": s.spec,
                    "output": s.output,
                    "error": s.error,
                    "started_at": s.started_at,
                    "finished_at": s.finished_at,
                }
            )
            for s in execution.steps
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExecutionAccepted,
    responses=UNAVAILABLE,
    summary="Start an execution",
)
async def create_execution(
    body: ExecutionCreate, services: ServicesDep, response: Response
) -> ExecutionAccepted:
    """Record the execution and its steps, start it in the background, return its id at once."""
    errors = []
    for index, step in enumerate(body.steps):
        if isinstance(step, HttpStep):
            try:
                services.http_runner.check_host(step)
            except HostNotAllowedError as exc:
                errors.append(
                    {
                        "loc": ["body", "steps", index, "url"],
                        "msg": str(exc),
                        "type": "host_not_allowed",
                    }
                )
    if errors:
        raise HTTPException(422, detail=errors)
    if services.manager.closing:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "service is shutting down")
    async with session_scope(services.sessionmaker) as session:
        execution = await repo.create_execution(
            session,
            steps=body.steps,
            default_max_attempts=services.settings.step_default_max_attempts,
            workflow_id=body.workflow_id,
            name=body.name,
        )
        execution_id = execution.id
    structlog.contextvars.bind_contextvars(execution_id=str(execution_id))
    try:
        services.manager.start(execution_id)
    except RuntimeError as exc:
        async with session_scope(services.sessionmaker) as session:
            await repo.set_execution_status(
                session, execution_id, ExecutionStatus.CANCELLED, error=str(exc), finished=True
            )
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    location = f"/api/v1/executions/{execution_id}"
    response.headers["Location"] = location
    return ExecutionAccepted(
        id=execution_id,
        status=ExecutionStatus.PENDING,
        links={"self": location, "logs": f"{location}/logs", "stream": f"{location}/logs/stream"},
    )


@router.get(
    "/{execution_id}",
    response_model=ExecutionOut,
    responses={**NOT_FOUND, **UNAVAILABLE},
    summary="Get an execution",
)
async def read_execution(execution_id: uuid.UUID, session: SessionDep) -> ExecutionOut:
    """The execution, its status and each step's status, attempts, output and error."""
    structlog.contextvars.bind_contextvars(execution_id=str(execution_id))
    execution = await repo.get_execution(session, execution_id)
    if execution is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"execution {execution_id} not found")
    return execution_out(execution)
