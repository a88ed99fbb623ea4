"""Queries and updates of executions and steps (short transactions; no session held across I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from execlog_api.db.models import Execution, ExecutionStatus, ExecutionStep, StepStatus
from execlog_api.step_specs import AnyStep
from execlog_schema.builder import uuid7
from execlog_schema.payload import to_json


def now() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


async def create_execution(
    session: AsyncSession,
    *,
    steps: Sequence[AnyStep],
    default_max_attempts: int,
    workflow_id: uuid.UUID | None = None,
    name: str | None = None,
) -> Execution:
    """Insert a pending execution and its pending steps; returns it (id made here, UUIDv7)."""
    execution = Execution(
        id=uuid7(),
        workflow_id=workflow_id,
        name=name,
        status=ExecutionStatus.PENDING.value,
        created_at=now(),
    )
    for position, step in enumerate(steps):
        execution.steps.append(
            ExecutionStep(
                id=uuid7(),
                position=position,
                node_id=step.node_id or f"{step.kind}-{position}",
                kind=step.kind,
                spec=to_json(step.model_dump(mode="json")),
                status=StepStatus.PENDING.value,
                attempts=0,
                max_attempts=step.max_attempts or default_max_attempts,
            )
        )
    session.add(execution)
    await session.flush()
    return execution


async def get_execution(session: AsyncSession, execution_id: uuid.UUID) -> Execution | None:
    """The execution with its steps (ordered), or None."""
    result = await session.execute(select(Execution).where(Execution.id == execution_id))
    return result.scalar_one_or_none()


async def execution_exists(session: AsyncSession, execution_id: uuid.UUID) -> bool:
    """Whether an execution with this id exists."""
    result = await session.execute(select(Execution.id).where(Execution.id == execution_id))
    return result.scalar_one_or_none() is not None


async def set_execution_status(
    session: AsyncSession,
    execution_id: uuid.UUID,
    status: ExecutionStatus,
    *,
    error: str | None = None,
    started: bool = False,
    finished: bool = False,
) -> None:
    """Update status (and started_at/finished_at/error when asked)."""
    values: dict[str, Any] = {"status": status.value}
    if started:
        values["started_at"] = now()
    if finished:
        values["finished_at"] = now()
    if error is not None:
        values["error"] = to_json(error)
    await session.execute(update(Execution).where(Execution.id == execution_id).values(**values))


async def set_step_status(
    session: AsyncSession,
    step_id: uuid.UUID,
    status: StepStatus,
    *,
    attempts: int | None = None,
    output: Any = None,
    error: str | None = None,
    started: bool = False,
    finished: bool = False,
) -> None:
    """Update one step."""
    values: dict[str, Any] = {"status": status.value}
    if attempts is not None:
        values["attempts"] = attempts
    if output is not None:
        values["output"] = to_json(output)
    if error is not None:
        values["error"] = to_json(error)
    if started:
        values["started_at"] = now()
    if finished:
        values["finished_at"] = now()
    await session.execute(update(ExecutionStep).where(ExecutionStep.id == step_id).values(**values))


async def set_pending_steps(
    session: AsyncSession, execution_id: uuid.UUID, status: StepStatus
) -> None:
    """Mark every still pending or running step of an execution (skipped / cancelled)."""
    await session.execute(
        update(ExecutionStep)
        .where(
            ExecutionStep.execution_id == execution_id,
            ExecutionStep.status.in_([StepStatus.PENDING.value, StepStatus.RUNNING.value]),
        )
        .values(status=status.value, finished_at=now())
    )
