"""Log-shaped records: what a workflow runner logs (message ~80 chars, small JSON payload)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.models import LogBatch, LogLevel, LogRecord

_LEVELS = (
    LogLevel.INFO,
    LogLevel.INFO,
    LogLevel.INFO,
    LogLevel.DEBUG,
    LogLevel.WARNING,
    LogLevel.INFO,
    LogLevel.ERROR,
    LogLevel.INFO,
)
_COMPONENTS = ("runner", "retry_service", "workflow_brain")
_VERBS = ("started", "finished", "retrying", "waiting for upstream", "wrote output", "polled")


class Shapes:
    """Deterministic keyword arguments of ``log()`` for record ``i`` (seeded)."""

    def __init__(self, executions: int = 200, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.execution_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(executions)]
        self.workflow_ids = [
            uuid.UUID(int=rng.getrandbits(128)) for _ in range(executions // 4 + 1)
        ]
        self.rng = rng

    def kwargs(self, i: int) -> dict[str, Any]:
        """Arguments of ``ExecutionLogger.log`` (and ``new_record``) for record ``i``."""
        ex = i % len(self.execution_ids)
        node = f"node-{i % 13}"
        verb = _VERBS[i % len(_VERBS)]
        return {
            "execution_id": self.execution_ids[ex],
            "workflow_id": self.workflow_ids[ex % len(self.workflow_ids)],
            "level": _LEVELS[i % len(_LEVELS)],
            "message": (
                f"step {node} {verb} (item {i}, attempt {1 + i % 3}) in {i % 997 * 1.7:.1f} ms"
            ),
            "node_id": node,
            "component": _COMPONENTS[i % len(_COMPONENTS)],
            "payload": {
                "item": i,
                "status": "ok" if i % 11 else "retry",
                "duration_ms": round(i % 997 * 1.7, 1),
                "tags": ["bench", node],
            },
            "attempt": 1 + i % 3,
        }


def records(n: int, shapes: Shapes | None = None) -> list[LogRecord]:
    """``n`` contract records made by the producer's own builder."""
    s = shapes or Shapes()
    return [new_record(**s.kwargs(i)) for i in range(n)]


def batches(recs: list[LogRecord], size: int) -> list[LogBatch]:
    """Records wrapped in LogBatches of ``size`` (the last one may be shorter)."""
    producer = make_producer("execlog-bench", "0.1.0")
    return [new_batch(recs[i : i + size], producer) for i in range(0, len(recs), size)]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
