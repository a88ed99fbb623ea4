"""Validate one batch against the contract and write it, or dead-letter it. No Celery here.

Database errors are NOT caught: the caller (Celery task, HTTP endpoint) decides whether to
retry, answer 503, or dead-letter; a batch is never acknowledged before its write committed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal
from uuid import UUID

from execlog_schema.codec import decode_batch
from execlog_schema.errors import BatchRejected
from execlog_service.log_setup import get_logger
from execlog_worker.ingest.writer import LogWriter, RejectKind
from execlog_worker.metrics import (
    BATCHES_REJECTED,
)

log = get_logger(__name__)

Status = Literal["written", "rejected", "dead_lettered"]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one batch."""

    status: Status
    batch_id: UUID | None
    records: int = 0
    written: int = 0
    duplicates: int = 0
    reason: str | None = None
    reject_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (task result, HTTP body)."""
        out = asdict(self)
        out["batch_id"] = str(self.batch_id) if self.batch_id else None
        return out


def peek_batch_id(raw: object) -> str | None:
    """The batch_id of a raw message, for log context, when it looks like one."""
    if isinstance(raw, dict):
        value = raw.get("batch_id")
        if isinstance(value, str) and len(value) <= 64:
            return value
    return None


async def dead_letter(
    raw: object,
    writer: LogWriter,
    *,
    reason: str,
    batch_id: UUID | None,
    kind: RejectKind,
    source: str,
    task_id: str | None = None,
) -> IngestResult:
    """Store ``raw`` in execution_log_rejects and count it."""
    reject_id = await writer.reject(
        raw, reason=reason, batch_id=batch_id, kind=kind, source=source, task_id=task_id
    )
    BATCHES_REJECTED.labels(source, kind).inc()
    log.warning("batch dead-lettered", kind=kind, reason=reason, reject_id=reject_id)
    status: Status = "rejected" if kind == "invalid" else "dead_lettered"
    return IngestResult(status=status, batch_id=batch_id, reason=reason, reject_id=reject_id)


async def ingest(
    raw: object, writer: LogWriter, *, source: str = "task", task_id: str | None = None
) -> IngestResult:
    """Validate ``raw`` (dict, JSON bytes/str) and write it in one statement.

    An invalid batch is stored as a dead letter (kind ``invalid``) and reported, never raised.
    """
    try:
        batch = decode_batch(raw)
    except BatchRejected as exc:
        return await dead_letter(
            raw,
            writer,
            reason=exc.reason,
            batch_id=exc.batch_id,
            kind="invalid",
            source=source,
            task_id=task_id,
        )
    result = await writer.write_batches([batch], source=source)
    log.debug(
        "batch written",
        records=result.records,
        written=result.written,
        duplicates=result.duplicates,
    )
    return IngestResult(
        status="written",
        batch_id=batch.batch_id,
        records=result.records,
        written=result.written,
        duplicates=result.duplicates,
    )
