"""The one exception ``decode_batch`` raises."""

from __future__ import annotations

from uuid import UUID


class BatchRejected(Exception):  # noqa: N818 (agreed API name)
    """A batch that does not satisfy the contract; never retried, goes to dead letter.

    ``reason`` is a human-readable sentence; ``batch_id`` is the batch's id when it could be read.
    """

    def __init__(self, reason: str, batch_id: UUID | None = None) -> None:
        super().__init__(reason, batch_id)
        self.reason = reason
        self.batch_id = batch_id

    def __str__(self) -> str:
        if self.batch_id is None:
            return self.reason
        return f"{self.reason} (batch_id={self.batch_id})"

    def __repr__(self) -> str:
        return f"BatchRejected({self.reason!r}, batch_id={self.batch_id!r})"
