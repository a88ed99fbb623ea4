"""Interpreter tuning the API applies once at startup, so logging never stalls the event loop.

- ``gc.freeze()`` after startup moves everything built so far out of the collector's reach:
  full collections then walk only request-time objects (60-160 ms pauses gone, BENCHMARKS.md).
- ``sys.setswitchinterval``: the logger's sender thread publishes in Python; a thread that
  holds the GIL keeps it until it blocks or the switch interval ends (CPython's default is
  5 ms), and the loop thread waits that long. A sub-millisecond interval bounds the stall.
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass

DEFAULT_SWITCH_INTERVAL = 0.0005
"""Seconds; the API's GIL_SWITCH_INTERVAL default (CPython's own is 0.005)."""


@dataclass(frozen=True)
class RuntimeTuning:
    """What :func:`tune_interpreter` changed, to undo it (tests, benchmarks)."""

    froze_gc: bool
    previous_switch_interval: float


def tune_interpreter(*, gc_freeze: bool, switch_interval: float | None) -> RuntimeTuning:
    """Freeze the GC heap and set the GIL switch interval (``None``: leave it as it is)."""
    previous = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    if gc_freeze:
        gc.collect()
        gc.freeze()
    return RuntimeTuning(froze_gc=gc_freeze, previous_switch_interval=previous)


def undo_tuning(tuning: RuntimeTuning) -> None:
    """Put back what :func:`tune_interpreter` changed."""
    sys.setswitchinterval(tuning.previous_switch_interval)
    if tuning.froze_gc:
        gc.unfreeze()
