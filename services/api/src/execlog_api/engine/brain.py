"""WorkflowBrain runs an execution's steps in order; ExecutionManager tracks background runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from execlog_api.db import repository as repo
from execlog_api.db.models import ExecutionStatus, StepStatus
from execlog_api.engine.retry import RetryPolicy, RetryService, StepFailedError, error_payload
from execlog_api.engine.runners import Runner, StepContext
from execlog_api.step_specs import parse_step
from execlog_db.session import session_scope
from execlog_producer import ExecutionLogger
from execlog_schema.models import LogLevel

COMPONENT = "workflow_brain"
_log = structlog.get_logger("execlog_api.engine")


@dataclass(frozen=True)
class _StepRow:
    id: uuid.UUID
    position: int
    node_id: str
    kind: str
    spec: dict[str, object]
    max_attempts: int


@dataclass(frozen=True)
class BackoffSettings:
    """Backoff of step retries (attempt counts come from each step)."""

    base: float = 0.5
    maximum: float = 30.0


class WorkflowBrain:
    """Loads an execution, runs each step through RetryService and its Runner, records results."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        logger: ExecutionLogger,
        runners: Mapping[str, Runner],
        retry: RetryService | None = None,
        backoff: BackoffSettings | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.logger = logger
        self.runners = dict(runners)
        self.retry = retry or RetryService()
        self.backoff = backoff or BackoffSettings()

    async def run(self, execution_id: uuid.UUID) -> ExecutionStatus:
        """Run every step in order; returns the final status (CancelledError propagates)."""
        structlog.contextvars.bind_contextvars(execution_id=str(execution_id))
        async with session_scope(self.sessionmaker) as session:
            execution = await repo.get_execution(session, execution_id)
            if execution is None:
                raise LookupError(f"execution {execution_id} not found")
            workflow_id = execution.workflow_id
            steps = [
                _StepRow(s.id, s.position, s.node_id, s.kind, dict(s.spec), s.max_attempts)
                for s in execution.steps
            ]
            await repo.set_execution_status(
                session, execution_id, ExecutionStatus.RUNNING, started=True
            )
        self.logger.log(
            execution_id,
            LogLevel.INFO,
            f"execution started ({len(steps)} steps)",
            component=COMPONENT,
            workflow_id=workflow_id,
            payload={"steps": [{"node_id": s.node_id, "kind": s.kind} for s in steps]},
        )
        _log.info("execution_started", steps=len(steps))
        started = time.perf_counter()
        current: _StepRow | None = None
        try:
            for step in steps:
                current = step
                if not await self._run_step(execution_id, workflow_id, step):
                    await self._finish(
                        execution_id,
                        workflow_id,
                        ExecutionStatus.FAILED,
                        started,
                        error=f"step {step.node_id} failed",
                    )
                    return ExecutionStatus.FAILED
        except asyncio.CancelledError:
            await self._cancelled(execution_id, workflow_id, current, started)
            raise
        await self._finish(execution_id, workflow_id, ExecutionStatus.SUCCEEDED, started)
        return ExecutionStatus.SUCCEEDED

    async def _run_step(
        self, execution_id: uuid.UUID, workflow_id: uuid.UUID | None, step: _StepRow
    ) -> bool:
        async with session_scope(self.sessionmaker) as session:
            await repo.set_step_status(session, step.id, StepStatus.RUNNING, started=True)
        base = StepContext(
            execution_id=execution_id,
            workflow_id=workflow_id,
            node_id=step.node_id,
            position=step.position,
            attempt=1,
            max_attempts=step.max_attempts,
            logger=self.logger,
        )
        base.log(
            LogLevel.INFO,
            f"step {step.node_id} ({step.kind}) started",
            component=COMPONENT,
            payload={"position": step.position, "kind": step.kind, "spec": step.spec},
        )
        t0 = time.perf_counter()
        runner = self.runners.get(step.kind)
        policy = RetryPolicy(
            max_attempts=step.max_attempts, base=self.backoff.base, maximum=self.backoff.maximum
        )

        def make_context(attempt: int) -> StepContext:
            return StepContext(
                execution_id=execution_id,
                workflow_id=workflow_id,
                node_id=step.node_id,
                position=step.position,
                attempt=attempt,
                max_attempts=step.max_attempts,
                logger=self.logger,
            )

        try:
            if runner is None:
                raise StepFailedError(
                    f"no runner for kind {step.kind!r}", 0, LookupError(step.kind)
                )
            spec = parse_step(step.spec)
            output, attempts = await self.retry.run(
                make_context, lambda ctx: runner.run(ctx, spec), policy
            )
        except StepFailedError as exc:
            async with session_scope(self.sessionmaker) as session:
                await repo.set_step_status(
                    session,
                    step.id,
                    StepStatus.FAILED,
                    attempts=exc.attempts,
                    error=str(exc),
                    finished=True,
                )
            base.log(
                LogLevel.ERROR,
                f"step {step.node_id} failed",
                component=COMPONENT,
                payload={"attempts": exc.attempts, "error": error_payload(exc.last)},
            )
            return False
        elapsed = round(time.perf_counter() - t0, 6)
        async with session_scope(self.sessionmaker) as session:
            await repo.set_step_status(
                session,
                step.id,
                StepStatus.SUCCEEDED,
                attempts=attempts,
                output=output,
                finished=True,
            )
        base.log(
            LogLevel.INFO,
            f"step {step.node_id} succeeded",
            component=COMPONENT,
            payload={"attempts": attempts, "elapsed_seconds": elapsed},
        )
        return True

    async def _finish(
        self,
        execution_id: uuid.UUID,
        workflow_id: uuid.UUID | None,
        status: ExecutionStatus,
        started: float,
        *,
        error: str | None = None,
    ) -> None:
        async with session_scope(self.sessionmaker) as session:
            if status is not ExecutionStatus.SUCCEEDED:
                await repo.set_pending_steps(session, execution_id, StepStatus.SKIPPED)
            await repo.set_execution_status(
                session, execution_id, status, error=error, finished=True
            )
        elapsed = round(time.perf_counter() - started, 6)
        level = LogLevel.INFO if status is ExecutionStatus.SUCCEEDED else LogLevel.ERROR
        self.logger.log(
            execution_id,
            level,
            f"execution {status.value}",
            component=COMPONENT,
            workflow_id=workflow_id,
            payload={"status": status.value, "elapsed_seconds": elapsed, "error": error},
        )
        _log.info("execution_finished", status=status.value, elapsed_seconds=elapsed)

    async def _cancelled(
        self,
        execution_id: uuid.UUID,
        workflow_id: uuid.UUID | None,
        step: _StepRow | None,
        started: float,
    ) -> None:
        self.logger.log(
            execution_id,
            LogLevel.WARNING,
            "execution cancelled (service shutting down)",
            component=COMPONENT,
            node_id=None if step is None else step.node_id,
            workflow_id=workflow_id,
            payload={"elapsed_seconds": round(time.perf_counter() - started, 6)},
        )
        try:
            async with session_scope(self.sessionmaker) as session:
                await repo.set_pending_steps(session, execution_id, StepStatus.CANCELLED)
                await repo.set_execution_status(
                    session,
                    execution_id,
                    ExecutionStatus.CANCELLED,
                    error="cancelled at service shutdown",
                    finished=True,
                )
        except Exception:
            _log.exception("execution_cancel_record_failed")


class ExecutionManager:
    """Starts executions as tracked background tasks; shutdown waits, then cancels."""

    def __init__(self, brain: WorkflowBrain) -> None:
        self.brain = brain
        self._tasks: dict[uuid.UUID, asyncio.Task[ExecutionStatus | None]] = {}
        self._closing = False

    @property
    def closing(self) -> bool:
        """Whether shutdown began (new executions are refused)."""
        return self._closing

    @property
    def active(self) -> int:
        """Executions running now."""
        return len(self._tasks)

    def start(self, execution_id: uuid.UUID) -> asyncio.Task[ExecutionStatus | None]:
        """Run the execution in the background (tracked until done)."""
        if self._closing:
            raise RuntimeError("service is shutting down")
        task = asyncio.create_task(self._guarded(execution_id), name=f"execution-{execution_id}")
        self._tasks[execution_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(execution_id, None))
        return task

    async def wait(self, execution_id: uuid.UUID, timeout: float | None = None) -> None:
        """Wait for one execution's task, if it is running here."""
        task = self._tasks.get(execution_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)

    async def _guarded(self, execution_id: uuid.UUID) -> ExecutionStatus | None:
        try:
            return await self.brain.run(execution_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.exception("execution_crashed", execution_id=str(execution_id))
            self.brain.logger.log(
                execution_id,
                LogLevel.CRITICAL,
                f"execution crashed: {type(exc).__name__}: {exc}",
                component=COMPONENT,
                payload={"error": error_payload(exc)},
            )
            try:
                async with session_scope(self.brain.sessionmaker) as session:
                    await repo.set_pending_steps(session, execution_id, StepStatus.SKIPPED)
                    await repo.set_execution_status(
                        session,
                        execution_id,
                        ExecutionStatus.FAILED,
                        error=f"internal error: {type(exc).__name__}: {exc}",
                        finished=True,
                    )
            except Exception:
                _log.exception("execution_fail_record_failed", execution_id=str(execution_id))
            return None

    async def shutdown(self, grace: float) -> None:
        """Refuse new runs, give running ones ``grace`` seconds, then cancel and await them."""
        self._closing = True
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace) if grace > 0 else (set(), tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
