"""Per-message CPU of the task payload: kombu's stdlib json codec vs the orjson one that
execlog_schema registers under the same name, plus the worker's validation and row building."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from execlog_bench import data
from execlog_bench.stats import summary
from execlog_schema.codec import batch_to_wire, decode_batch
from execlog_schema.wire import orjson_dumps, orjson_loads


def _best_us(fn: Callable[[], object], loops: int, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        out.append((time.perf_counter() - t0) / loops * 1e6)
    return out


def run_section(
    *, records_per_message: int = 50, loops: int = 200, runs: int = 3
) -> dict[str, Any]:
    """µs per message and per record of each step, median of ``runs`` timing runs."""
    from kombu.utils import json as kombu_json

    from execlog_worker.ingest.writer import batch_rows

    std_dumps: Callable[[Any], str] = kombu_json.dumps
    std_loads: Callable[[Any], Any] = kombu_json.loads

    batch = data.batches(data.records(records_per_message), records_per_message)[0]
    wire = batch_to_wire(batch)
    body = [[wire], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    std_text = std_dumps(body)
    orj_text = orjson_dumps(body)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("encode: kombu stdlib json", lambda: std_dumps(body)),
        ("encode: orjson (register_kombu_json)", lambda: orjson_dumps(body)),
        ("decode: kombu stdlib json", lambda: std_loads(std_text)),
        ("decode: orjson (register_kombu_json)", lambda: orjson_loads(orj_text)),
        ("producer: batch_to_wire", lambda: batch_to_wire(batch)),
        ("worker: decode_batch (pydantic validation)", lambda: decode_batch(wire)),
        ("worker: batch_rows (row tuples)", lambda: batch_rows([batch])),
    ]
    out = []
    for name, fn in cases:
        us = summary(_best_us(fn, loops, runs))
        out.append(
            {
                "step": name,
                "us_per_message": us,
                "us_per_record": us["median"] / records_per_message,
            }
        )
    return {
        "records_per_message": records_per_message,
        "message_bytes": len(orj_text),
        "steps": out,
    }
