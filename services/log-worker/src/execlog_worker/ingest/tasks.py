"""The Celery task (thin) and the message handling it delegates to (plain, testable).

Delivery rules, with ``task_acks_late``:
- the message is acked only after ``handle_message`` returned, i.e. after the write (or the
  dead-letter row) committed;
- an invalid batch is dead-lettered and acked, never retried;
- a database error is retried with exponential backoff and jitter by re-publishing the
  message (``Task.retry``: the copy is published BEFORE the original is acked, so a crash in
  between gives a duplicate that the idempotent write absorbs, never a loss);
- after TASK_MAX_RETRIES (or at once for a permanent data error) the batch is dead-lettered;
  if even that fails (database still down), it keeps retrying instead of vanishing;
- if publishing the retry fails (broker down), the original is rejected WITH requeue
  (Celery's default there would drop it) so Redis redelivers it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import structlog
from celery import Celery, Task
from celery.exceptions import Reject

from execlog_schema.wire import TASK_NAME
from execlog_service.log_setup import get_logger
from execlog_worker.errors import describe, is_permanent
from execlog_worker.ingest.batch import IngestResult, dead_letter, ingest, peek_batch_id
from execlog_worker.ingest.child_runtime import ChildRuntime, get_runtime
from execlog_worker.metrics import WRITE_RETRIES
from execlog_worker.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class Done:
    """The message can be acked: the batch is written or dead-lettered."""

    result: IngestResult


@dataclass(frozen=True)
class RetryLater:
    """The message must come back after ``countdown`` seconds."""

    countdown: float
    error: BaseException
    reason: str


def backoff(retries: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    ceiling = min(cap, base * (2.0 ** min(retries, 30)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def handle_message(
    raw: object,
    runtime: ChildRuntime,
    settings: Settings,
    *,
    retries: int = 0,
    task_id: str | None = None,
) -> Done | RetryLater:
    """Process one message; never raises for database or data problems."""

    async def write() -> IngestResult:
        return await ingest(raw, await runtime.writer(), source="task", task_id=task_id)

    try:
        return Done(runtime.run(write()))
    except Exception as exc:
        runtime.cancel_pending()
        reason = describe(exc)
        permanent = is_permanent(exc)
        if permanent or retries >= settings.task_max_retries:
            why = "permanent error" if permanent else f"gave up after {retries} retries"
            dlq_reason = f"write failed ({why}): {reason}"

            async def bury() -> IngestResult:
                return await dead_letter(
                    raw,
                    await runtime.writer(),
                    reason=dlq_reason,
                    batch_id=None,
                    kind="write_failed",
                    source="task",
                    task_id=task_id,
                )

            try:
                return Done(runtime.run(bury()))
            except Exception as dlq_exc:
                runtime.cancel_pending()
                log.error(
                    "dead-letter write failed too; the batch stays queued",
                    error=describe(dlq_exc),
                )
        countdown = backoff(
            retries, settings.task_retry_backoff_base, settings.task_retry_backoff_max
        )
        WRITE_RETRIES.inc()
        log.warning(
            "write failed, retrying",
            error=reason,
            retry=retries + 1,
            max_retries=settings.task_max_retries,
            countdown=round(countdown, 2),
        )
        return RetryLater(countdown=countdown, error=exc, reason=reason)


def register_tasks(app: Celery, settings: Settings) -> Task:
    """Register the contract's task on ``app``; returns it (with the coalescing strategy)."""
    from execlog_worker.ingest import coalesce

    coalesce.configure(settings)

    @app.task(  # type: ignore[untyped-decorator,unused-ignore]
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,  # the limit is TASK_MAX_RETRIES, enforced (with a dead letter) above
        Strategy="execlog_worker.ingest.coalesce:coalescing_strategy",
    )
    def batch_write_logs(self: Task, batch: object) -> dict[str, Any]:
        request = self.request
        with structlog.contextvars.bound_contextvars(
            task_id=request.id, batch_id=peek_batch_id(batch)
        ):
            outcome = handle_message(
                batch,
                get_runtime(settings),
                settings,
                retries=request.retries or 0,
                task_id=request.id,
            )
            if isinstance(outcome, Done):
                return outcome.result.as_dict()
            try:
                raise self.retry(exc=outcome.error, countdown=outcome.countdown)
            except Reject as rej:
                log.error("could not publish the retry; requeueing the message", error=rej.reason)
                raise Reject(rej.reason, requeue=True) from None

    task: Task = batch_write_logs
    return task
