"""Prometheus metrics of the ExecutionLogger, in a registry of its own (one per logger/app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class LoggerMetrics:
    """Counters and gauges of one ExecutionLogger; ``registry`` is what /metrics exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records_logged = Counter(
            "execlog_records_logged", "Records accepted by ExecutionLogger.log()", registry=r
        )
        self.batches_sent = Counter(
            "execlog_batches_sent",
            "Batches acknowledged, by route (broker, http) and origin (live, replay)",
            ["route", "origin"],
            registry=r,
        )
        self.records_sent = Counter(
            "execlog_records_sent",
            "Records acknowledged, by route (broker, http) and origin (live, replay)",
            ["route", "origin"],
            registry=r,
        )
        self.batches_refused = Counter(
            "execlog_batches_refused",
            "Batches log-worker's HTTP ingest refused as invalid (422; kept there as dead letters)",
            registry=r,
        )
        self.send_failures = Counter(
            "execlog_send_failures",
            "Failed deliveries, by transport (broker, http, http_rejected, spool)",
            ["transport"],
            registry=r,
        )
        self.fallbacks = Counter(
            "execlog_fallbacks",
            "Batches that fell back from the broker, by target (http, spool)",
            ["target"],
            registry=r,
        )
        self.spooled_records = Counter(
            "execlog_spooled_records",
            "Records spooled to disk, by reason (send_failed, overflow, backpressure, closed)",
            ["reason"],
            registry=r,
        )
        self.spooled_bytes = Counter(
            "execlog_spooled_bytes", "Bytes appended to the disk spool", registry=r
        )
        self.replayed_records = Counter(
            "execlog_replayed_records", "Spooled records delivered by a replay", registry=r
        )
        self.spool_corrupt_lines = Counter(
            "execlog_spool_corrupt_lines",
            "Unreadable spool lines moved aside to the rejected/ folder",
            registry=r,
        )
        self.records_dropped = Counter(
            "execlog_records_dropped",
            "Records lost (reason spool_failed: disk spool unwritable or full); stays 0",
            ["reason"],
            registry=r,
        )
        self.buffer_depth = Gauge(
            "execlog_buffer_depth", "Records waiting in the in-memory buffer", registry=r
        )
        self.buffer_bytes = Gauge(
            "execlog_buffer_bytes", "Estimated bytes waiting in the in-memory buffer", registry=r
        )
        self.spool_pending_bytes = Gauge(
            "execlog_spool_pending_bytes", "Bytes in spool files not yet replayed", registry=r
        )
        self.spool_pending_files = Gauge(
            "execlog_spool_pending_files", "Spool files not yet replayed", registry=r
        )
        self.broker_publish_ok = Gauge(
            "execlog_broker_publish_ok",
            "1 when the last publish to the broker succeeded, else 0",
            registry=r,
        )
        self.batch_records = Histogram(
            "execlog_batch_records",
            "Records per shipped batch",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=r,
        )
        self.send_seconds = Histogram(
            "execlog_send_seconds",
            "Time to deliver one batch (any route), seconds",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.broker_publish_ok.set(1)
        for route in ("broker", "http"):
            for origin in ("live", "replay"):
                self.batches_sent.labels(route=route, origin=origin)
                self.records_sent.labels(route=route, origin=origin)
        for transport in ("broker", "http", "http_rejected", "spool"):
            self.send_failures.labels(transport=transport)
        for target in ("http", "spool"):
            self.fallbacks.labels(target=target)
        for reason in ("send_failed", "overflow", "backpressure", "closed"):
            self.spooled_records.labels(reason=reason)
        self.records_dropped.labels(reason="spool_failed")

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (``0.0`` when absent); handy for tests and /readyz."""
        sample = self.registry.get_sample_value(name, labels or {})
        return 0.0 if sample is None else sample

    def dropped_total(self) -> float:
        """All records dropped so far, every reason summed."""
        return sum(
            s.value
            for metric in self.registry.collect()
            if metric.name == "execlog_records_dropped"
            for s in metric.samples
            if s.name == "execlog_records_dropped_total"
        )
