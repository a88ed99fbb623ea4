"""What delivering a batch can fail with."""

from __future__ import annotations


class DeliveryError(Exception):
    """A transport could not deliver a batch."""


class SpoolError(DeliveryError):
    """The disk spool could not store a batch (full, or an OS error)."""


class WorkerRejectedError(Exception):
    """log-worker answered 422 to a batch: invalid, kept there as a dead letter (final)."""
