"""Shared fixtures of the producer tests: a fake transport, a private spool, a logger factory."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import ExecutionLogger, LoggerConfig
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.models import LogBatch


class FakeSender:
    """A BatchSender that records batches; can be slowed, failed or blocked on demand."""

    def __init__(self, name: str = "broker", delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.fail = False
        self.batches: list[LogBatch] = []
        self.attempts = 0
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def send(self, batch: LogBatch) -> None:
        self.attempts += 1
        self.gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise ConnectionError(f"{self.name} down")
        with self.lock:
            self.batches.append(batch)

    def close(self) -> None:
        pass

    def record_ids(self) -> list[str]:
        with self.lock:
            return [str(r.id) for b in self.batches for r in b.records]


@pytest.fixture()
def spool_dir(tmp_path: Path) -> Path:
    """A private spool directory."""
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture()
def make_logger(spool_dir: Path) -> Iterator[Callable[..., tuple[ExecutionLogger, FakeSender]]]:
    """Factory of (ExecutionLogger, its fake broker); every logger is closed at teardown."""
    made: list[ExecutionLogger] = []

    def factory(
        broker: FakeSender | None = None, http: FakeSender | None = None, **config: object
    ) -> tuple[ExecutionLogger, FakeSender]:
        sender = broker or FakeSender()
        spool = DiskSpool(spool_dir, file_max_bytes=1 << 20, max_bytes=1 << 30)
        chain = DeliveryChain(sender, spool, http, backoff=0.05, backoff_max=0.2)
        logger = ExecutionLogger(lambda: chain, LoggerConfig(**config))  # type: ignore[arg-type]
        made.append(logger)
        return logger, sender

    yield factory
    for logger in made:
        logger.close(timeout=5)
        assert logger.metrics.dropped_total() == 0


TEST_EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-000000000003")
TEST_PRODUCER = make_producer("execlog-producer-test", "0.0.0")


def small_batch(records: int = 3) -> LogBatch:
    """A valid batch of ``records`` short records of one execution."""
    return new_batch(
        [
            new_record(execution_id=TEST_EXECUTION, level="INFO", message=f"m{i}", component="test")
            for i in range(records)
        ],
        TEST_PRODUCER,
    )
