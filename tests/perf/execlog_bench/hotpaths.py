"""Per-record CPU of the hot paths of whatever execlog_api / execlog_worker is importable.

``python -m execlog_bench.hotpaths [--redis-url URL]`` prints one JSON line: log() µs per call,
publish ms per message of 50 and 500 records (real Redis, own key prefix), and the worker's
per-record decode + row building. Run it once with the current tree and once with an older
one on PYTHONPATH (e.g. ``git archive HEAD services | tar -x -C /tmp/head``) to see what a
code change bought; best-of-N timings, so the machine's other load matters little.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from execlog_bench import data
from execlog_bench.producer import delete_prefix, make_logger

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def measure(redis_url: str, repeat: int = 30) -> dict[str, Any]:
    """Best-of timings of each hot path."""
    from execlog_producer.delivery.celery_sender import BrokerOptions, CelerySender
    from execlog_schema.builder import new_batch
    from execlog_schema.codec import batch_to_wire, decode_batch
    from execlog_worker.ingest.writer import batch_rows

    prefix = f"execlog-bench-hot-{uuid.uuid4().hex[:8]}:"
    logger = make_logger(redis_url, prefix, buffer_size=10**7, flush_interval=3600.0)
    logger._started = True
    shapes = data.Shapes()
    kwargs = [shapes.kwargs(i) for i in range(500)]
    out: dict[str, Any] = {}
    records = [logger.log(**kw) for kw in kwargs]

    def log_all() -> None:
        for kw in kwargs:
            logger.log(**kw)

    out["log_us"] = best_of(log_all, repeat) / len(kwargs) * 1e6
    sender = CelerySender(BrokerOptions(url=redis_url, key_prefix=prefix))
    try:
        for size in (50, 500):
            one = new_batch(records[:size], logger.producer)
            sender.send(one)

            def publish(batch: Any = one) -> None:
                sender.send(batch)

            out[f"publish_ms_{size}"] = best_of(publish, repeat) * 1e3
    finally:
        sender.close()
        delete_prefix(redis_url, prefix)
    batch = new_batch(records, logger.producer)
    body = orjson.dumps([[batch_to_wire(batch)], {}, EMBED])
    try:
        from execlog_worker.ingest.coalesce import decode_message

        def decode() -> object:
            return decode_message(body, "application/json", "utf-8")

    except ImportError:

        def decode() -> object:
            return decode_batch(orjson.loads(body)[0][0])

    decoded: Any = decode()
    out["worker_decode_us"] = best_of(decode, repeat) / len(records) * 1e6
    out["worker_rows_us"] = best_of(lambda: batch_rows([decoded]), repeat) / len(records) * 1e6
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    """Print the measurements as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m execlog_bench.hotpaths")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sys.stdout.write(orjson.dumps(measure(args.redis_url, args.repeat)).decode() + "\n")


if __name__ == "__main__":
    main()
