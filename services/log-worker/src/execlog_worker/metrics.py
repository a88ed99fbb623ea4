"""Prometheus metrics of the log-worker.

Prefork worker: every Celery child is a separate process, so metrics use prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, one mmap file per pid, summed at scrape time).
One scrape target per worker host, served by the worker's main process (WORKER_METRICS_PORT),
survives child recycling (max-tasks-per-child) without losing counts and needs no port per
child. The API process exposes the same metric names on its /metrics.
The ``logs`` queue length is read from Redis at scrape time (a custom collector).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial

import redis
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

RECORDS_WRITTEN = Counter(
    "execlog_records_written", "Log records inserted into execution_logs", ["source"]
)
DUPLICATES_SKIPPED = Counter(
    "execlog_duplicates_skipped", "Records skipped because they were already stored", ["source"]
)
BATCHES_REJECTED = Counter(
    "execlog_batches_rejected", "Batches sent to the dead-letter table", ["source", "kind"]
)
BATCHES_WRITTEN = Counter("execlog_batches_written", "Batches written", ["source"])
WRITE_RETRIES = Counter("execlog_write_retries", "Write attempts that failed and were retried")
COALESCED_MESSAGES = Histogram(
    "execlog_coalesced_messages",
    "Queue messages written together by one coalesced write (execlog_worker.ingest.coalesce)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
DUPLICATE_FALLBACKS = Counter(
    "execlog_copy_duplicate_fallbacks",
    "COPY writes that met an already stored row (a redelivery) and went through staging instead",
)
WRITE_LATENCY = Histogram(
    "execlog_write_seconds",
    "Time of one bulk write (one statement, one transaction)",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def _from_url(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class QueueLengthCollector(Collector):
    """``execlog_queue_length``: messages waiting in a queue's Redis list(s), all priorities."""

    def __init__(
        self, source: str | Callable[[], redis.Redis], key: str, queue: str, timeout: float = 1.0
    ) -> None:
        self._client = source if callable(source) else partial(_from_url, source, timeout)
        self._key = key
        self._queue = queue

    def queue_length(self) -> int:
        """LLEN of the queue list plus its kombu priority sub-lists."""
        client = self._client()
        try:
            keys = [self._key, *(f"{self._key}{_PRIORITY_SEP}{p}" for p in _PRIORITY_STEPS)]
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            return sum(int(n) for n in pipe.execute())
        finally:
            client.close()

    def collect(self) -> Iterable[Metric]:
        """One gauge sample; absent (with an up=0 gauge) when Redis cannot be reached."""
        up = GaugeMetricFamily("execlog_broker_up", "1 if the broker answered the last scrape")
        try:
            length = self.queue_length()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauge = GaugeMetricFamily(
            "execlog_queue_length", "Messages waiting in the queue", labels=["queue"]
        )
        gauge.add_metric([self._queue], length)
        yield gauge


def multiprocess_enabled() -> bool:
    """Whether prometheus_client runs in multiprocess mode in this process."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def multiprocess_registry(extra: Collector | None = None) -> CollectorRegistry:
    """A registry summing every process's files (multiprocess mode), plus ``extra``."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if extra is not None:
        registry.register(extra)
    return registry


def render(extra: Collector | None = None) -> bytes:
    """Text exposition for /metrics: all processes (multiprocess mode) or this one, + ``extra``."""
    if multiprocess_enabled():
        return generate_latest(multiprocess_registry(extra))
    out = generate_latest(REGISTRY)
    if extra is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(extra)
        out += generate_latest(registry)
    return out


def mark_process_dead(pid: int) -> None:
    """Clean the live-gauge files of a dead child (multiprocess mode only)."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
