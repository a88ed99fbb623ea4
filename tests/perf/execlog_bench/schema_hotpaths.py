"""Micro-benchmark of execlog_schema's hot paths: ``python -m execlog_bench.schema_hotpaths``.

Measures, per record, for batches of ``--records`` typical records (best of ``--repeat``
rounds, each round timing every operation in turn, so load drift hits them alike):
build (``new_record`` x N + ``new_batch``), encode (``encode_batch``), build+encode,
``batch_to_wire``, decode+validate of a wire dict (``decode_batch``, the worker's path),
and decode+validate of JSON bytes; plus two references (orjson parse alone, and pydantic
validation of the same records with an unconstrained model) to put the figures in scale.
"""

from __future__ import annotations

import argparse
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pydantic

from execlog_schema import __version__
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire, decode_batch, encode_batch
from execlog_schema.models import LogBatch, LogLevel, Producer

_LEVELS = list(LogLevel)


@dataclass(frozen=True)
class Result:
    """Best time of one measured operation."""

    name: str
    us_per_record: float
    us_per_batch: float


def sample_inputs(records: int) -> list[dict[str, Any]]:
    """Keyword arguments of ``new_record`` for ``records`` typical log lines (made untimed)."""
    execution_id = uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)
    return [
        {
            "execution_id": execution_id,
            "level": _LEVELS[i % len(_LEVELS)],
            "message": f"node step {i} finished in {i * 1.5:.1f} ms",
            "component": "runner",
            "node_id": f"node-{i % 7}",
            "payload": {"step": i, "status": "ok", "tags": ["a", "b"]},
            "attempt": 1,
        }
        for i in range(records)
    ]


def _build(inputs: list[dict[str, Any]], producer: Producer) -> LogBatch:
    return new_batch([new_record(**kwargs) for kwargs in inputs], producer)


CLOCKS: dict[str, Callable[[], float]] = {
    "cpu": time.process_time,
    "wall": time.perf_counter,
}
"""``cpu`` (default) counts only this process's CPU time, so other jobs on a shared machine
inflate the figures less than with ``wall``."""


def _time(fn: Callable[[], object], loops: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(loops):
        fn()
    return (clock() - start) / loops


class _PlainRecord(pydantic.BaseModel):
    """Reference: the record fields with no constraints and no contract checks."""

    id: uuid.UUID
    execution_id: uuid.UUID
    workflow_id: uuid.UUID | None = None
    node_id: str | None = None
    component: str
    level: LogLevel
    message: str
    payload: dict[str, Any]
    created_at: datetime
    attempt: int | None = None


def run(records: int = 50, loops: int = 200, repeat: int = 5, clock: str = "cpu") -> list[Result]:
    """Measure every operation; times are the best of ``repeat`` runs of ``loops`` calls."""
    inputs = sample_inputs(records)
    producer = make_producer("execlog-api", "0.1.0")
    batch = _build(inputs, producer)
    wire = batch_to_wire(batch)
    raw = encode_batch(batch)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("build (new_record x N + new_batch)", lambda: _build(inputs, producer)),
        ("encode_batch -> bytes", lambda: encode_batch(batch)),
        ("build + encode_batch", lambda: encode_batch(_build(inputs, producer))),
        ("batch_to_wire -> dict", lambda: batch_to_wire(batch)),
        ("decode_batch(dict) (validate)", lambda: decode_batch(wire)),
        ("decode_batch(bytes) (parse + validate)", lambda: decode_batch(raw)),
        ("orjson.loads(bytes) only", lambda: orjson.loads(raw)),
    ]
    plain = pydantic.TypeAdapter(list[_PlainRecord])
    cases.append(
        (
            "reference: plain pydantic model, same records",
            lambda: plain.validate_python(wire["records"]),
        )
    )
    best = [float("inf")] * len(cases)
    for _ in range(repeat):
        for index, (_, fn) in enumerate(cases):
            best[index] = min(best[index], _time(fn, loops, CLOCKS[clock]))
    return [
        Result(name, seconds * 1e6 / records, seconds * 1e6)
        for (name, _), seconds in zip(cases, best, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(
        prog="python -m execlog_bench.schema_hotpaths", description=__doc__
    )
    parser.add_argument("--records", type=int, default=50, help="records per batch (50)")
    parser.add_argument("--loops", type=int, default=200, help="calls per timing run (200)")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs, best kept (5)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="cpu (default)")
    args = parser.parse_args(argv)
    results = run(args.records, args.loops, args.repeat, args.clock)
    print(
        f"execlog-schema {__version__}, pydantic {pydantic.VERSION}, orjson {orjson.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}; "
        f"{args.records} records/batch, best of {args.repeat} x {args.loops}, {args.clock} time"
    )
    print()
    print("| operation | µs / record | µs / batch |")
    print("|---|---:|---:|")
    for r in results:
        print(f"| {r.name} | {r.us_per_record:.2f} | {r.us_per_batch:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
