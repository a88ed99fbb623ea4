"""Fixtures of the contract tests: a migrated throwaway log-worker database, an independent
JSON Schema validator, and a recording batch sender for the real ExecutionLogger."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.execution_logger import ExecutionLogger, LoggerConfig
from execlog_schema.jsonschema_export import validator
from execlog_schema.models import LogBatch, LogRecord
from execlog_worker.ingest.pool import create_pool
from execlog_worker.ingest.writer import LogWriter, raw_to_text
from execlog_worker.ops.schema import migrate
from execlog_worker.settings import Settings

SchemaValidatorFactory = Callable[[int], Draft202012Validator]
SenderFactory = Callable[..., "RecordingSender"]
LogThrough = Callable[
    [Callable[[], DeliveryChain], Iterable[dict[str, Any]], LoggerConfig], list[LogRecord]
]


@pytest.fixture()
def schema_validator() -> SchemaValidatorFactory:
    """``schema_validator(major)``: a jsonschema validator of the committed
    ``log_batch.v<major>.json`` (independent of the pydantic models)."""
    return validator


class RecordingSender:
    """A BatchSender for the real ExecutionLogger that keeps what it is given, or fails."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.batches: list[LogBatch] = []
        self.lock = threading.Lock()

    def send(self, batch: LogBatch) -> None:
        if self.fail:
            raise ConnectionError(f"{self.name} down")
        with self.lock:
            self.batches.append(batch)

    def close(self) -> None:
        pass


def _log_through(
    make_chain: Callable[[], DeliveryChain],
    calls: Iterable[dict[str, Any]],
    config: LoggerConfig,
) -> list[LogRecord]:
    logger = ExecutionLogger(make_chain, config)
    execution = uuid.uuid4()
    try:
        returned = [logger.log(execution, **call) for call in calls]
        logger.flush_sync(timeout=20)
    finally:
        logger.close(timeout=20)
    return returned


class MemoryWriter:
    """Stands in for ``LogWriter`` where no database is needed; dead letters go through the
    worker's real ``raw_to_text``."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.rejects: list[tuple[str, str]] = []

    async def write_batches(self, batches: list[LogBatch], *, source: str = "task") -> Any:
        from execlog_worker.ingest.writer import WriteResult

        self.batches.extend(batches)
        total = sum(len(b.records) for b in batches)
        return WriteResult(records=total, written=total)

    async def reject(self, raw: object, *, reason: str, **_: object) -> int:
        text = raw_to_text(raw)
        assert "\x00" not in text
        text.encode("utf-8")
        self.rejects.append((reason, text))
        return len(self.rejects)


@pytest.fixture()
def recording_sender() -> SenderFactory:
    """``recording_sender(name, fail=False)``: a BatchSender that records or always fails."""
    return RecordingSender


@pytest.fixture()
def log_through() -> LogThrough:
    """``log_through(make_chain, calls, config)``: log ``calls`` (keyword arguments of
    ``ExecutionLogger.log``) for one new execution through the real ExecutionLogger on
    ``make_chain``, then flush and close it; the records it returned."""
    return _log_through


@pytest.fixture()
def memory_writer() -> MemoryWriter:
    """A database-free stand-in for the worker's LogWriter."""
    return MemoryWriter()


@pytest.fixture()
def worker_settings(database_url: str) -> Settings:
    """log-worker settings on this test's own database."""
    return Settings(database_url=database_url, db_pool_min_size=1, db_pool_max_size=2)


@pytest.fixture()
async def writer(worker_settings: Settings) -> AsyncIterator[LogWriter]:
    """The worker's real LogWriter on a freshly migrated database."""
    await migrate(worker_settings)
    pool = await create_pool(worker_settings)
    try:
        yield LogWriter(pool, method=worker_settings.write_method)
    finally:
        await pool.close()
