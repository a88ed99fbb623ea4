"""Interpreter tuning the API applies once at startup, shared with the benchmark harness.

``gc.freeze()`` after startup moves everything built so far (app, routes, pools, settings) out of
the collector's reach, so full collections walk only request-time objects: the 60-160 ms pauses
on the event loop they caused are gone (BENCHMARKS.md, section 1). CPython's GIL switch interval
is left alone: 0.5 ms instead of 5 ms made no difference to the loop's stalls there.
"""

from __future__ import annotations

import gc


def freeze_gc() -> None:
    """Collect once, then freeze every object alive now (GC_FREEZE)."""
    gc.collect()
    gc.freeze()


def unfreeze_gc() -> None:
    """Undo :func:`freeze_gc` (at shutdown, so a process that starts apps again starts clean)."""
    gc.unfreeze()
