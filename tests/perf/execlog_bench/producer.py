"""The producer as the API runs it: an ExecutionLogger publishing to Redis through Celery.

Also ``python -m execlog_bench.producer CONFIG_JSON``: log N records in a process of its own
(closed loop, or paced at a rate), flush, close, and print one JSON line of timings.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis

from execlog_bench.data import Shapes
from execlog_producer.delivery.celery_sender import BrokerOptions, CelerySender
from execlog_producer.delivery.chain import BatchSender, DeliveryChain
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import ExecutionLogger, LoggerConfig
from execlog_schema.models import LogBatch


@dataclass
class FlushLog:
    """(start, end) perf_counter intervals of every broker publish, recorded by the sender."""

    intervals: list[tuple[float, float]] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TimedSender:
    """A BatchSender that records when each publish of the sender it wraps was in flight."""

    name = "broker"

    def __init__(self, inner: BatchSender, flushes: FlushLog) -> None:
        self.inner = inner
        self.flushes = flushes

    def send(self, batch: LogBatch) -> None:
        """Publish and record the interval."""
        started = time.perf_counter()
        try:
            self.inner.send(batch)
        finally:
            ended = time.perf_counter()
            with self.flushes.lock:
                self.flushes.intervals.append((started, ended))
                self.flushes.records.append(len(batch.records))

    def close(self) -> None:
        """Close the wrapped sender."""
        self.inner.close()


def make_logger(
    redis_url: str,
    key_prefix: str,
    *,
    buffer_size: int,
    flush_interval: float,
    max_batch_records: int = 500,
    max_records: int = 10_000,
    spool_dir: Path | None = None,
    flushes: FlushLog | None = None,
    publish_process: bool = True,
) -> ExecutionLogger:
    """An ExecutionLogger wired like the API's (broker -> spool; no HTTP fallback here).

    ``publish_process``: publish from a child process, as the API does by default
    (LOG_PUBLISH_PROCESS); False publishes from the logger's sender thread.
    """
    options = BrokerOptions(url=redis_url, key_prefix=key_prefix)
    spool = spool_dir or Path(tempfile.mkdtemp(prefix="execlog-bench-spool-"))

    def chain() -> DeliveryChain:
        sender: BatchSender
        if publish_process:
            # Imported here so execlog_bench.hotpaths still runs against older trees.
            from execlog_producer.delivery.publisher_process import PublisherProcess

            sender = PublisherProcess(options)
        else:
            sender = CelerySender(options)
        if flushes is not None:
            sender = TimedSender(sender, flushes)
        return DeliveryChain(
            sender, DiskSpool(spool, file_max_bytes=8 << 20, max_bytes=1 << 30), None
        )

    config = LoggerConfig(
        buffer_size=buffer_size,
        flush_interval=flush_interval,
        max_records=max(max_records, buffer_size * 4),
        max_bytes=max(32 << 20, max_records * 1024),
        max_batch_records=max_batch_records,
        default_component="bench",
    )
    return ExecutionLogger(chain, config)


def delete_prefix(redis_url: str, key_prefix: str) -> int:
    """Delete every Redis key under ``key_prefix`` (never anything else)."""
    if not key_prefix:
        raise ValueError("refusing to delete without a key prefix")
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        return len(keys)
    finally:
        client.close()


async def produce(
    logger: ExecutionLogger,
    n: int,
    rate: float | None,
    start_at: int = 0,
    single_execution: str | None = None,
) -> float:
    """Log ``n`` records (closed loop, or ``rate`` per second in 1 ms ticks); returns t_first."""
    shapes = Shapes()
    kwargs = [shapes.kwargs(start_at + i) for i in range(min(n, 10_000))]
    if single_execution is not None:
        for kw in kwargs:
            kw["execution_id"] = single_execution
    log = logger.log
    t_first = time.monotonic()
    if rate is None:
        for i in range(n):
            log(**kwargs[i % len(kwargs)])
            if i % 200 == 199:
                await asyncio.sleep(0)
        return t_first
    i = 0
    began = time.monotonic()
    while i < n:
        target = min(n, int((time.monotonic() - began) * rate) + 1)
        while i < target:
            log(**kwargs[i % len(kwargs)])
            i += 1
        await asyncio.sleep(0.001)
    return t_first


async def _main(config: dict[str, Any]) -> dict[str, Any]:
    spool = Path(tempfile.mkdtemp(prefix="execlog-bench-spool-"))
    try:
        return await _produce_main(config, spool)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


async def _produce_main(config: dict[str, Any], spool: Path) -> dict[str, Any]:
    logger = make_logger(
        config["redis_url"],
        config["key_prefix"],
        buffer_size=int(config["buffer_size"]),
        flush_interval=float(config["flush_interval"]),
        max_batch_records=int(config.get("max_batch_records", 500)),
        max_records=int(config["records"]) + 10_000,
        spool_dir=spool,
    )
    logger.start()
    cpu_start = _cpu_seconds()
    t_first = await produce(
        logger,
        int(config["records"]),
        config.get("rate"),
        int(config.get("offset", 0)),
        config.get("single_execution"),
    )
    t_logged = time.monotonic()
    await logger.flush(timeout=120)
    t_flushed = time.monotonic()
    await logger.aclose(timeout=30)
    return {
        "t_first": t_first,
        "t_logged": t_logged,
        "t_flushed": t_flushed,
        "records": int(config["records"]),
        "cpu_seconds": _cpu_seconds() - cpu_start,
        "dropped": logger.metrics.dropped_total(),
        "spooled": _sum_samples(logger, "execlog_spooled_records_total"),
    }


def _cpu_seconds() -> float:
    """CPU of this process plus its reaped children (the publisher process, once closed)."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


def _sum_samples(logger: ExecutionLogger, sample: str) -> float:
    return sum(
        s.value
        for metric in logger.metrics.registry.collect()
        for s in metric.samples
        if s.name == sample
    )


def main() -> None:
    """Entry point of the producer process."""
    config = orjson.loads(sys.argv[1])
    result = asyncio.run(_main(config))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
