"""Fixtures of the contract tests: a migrated throwaway log-worker database, an independent
JSON Schema validator, and a recording batch sender for the real ExecutionLogger."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from execlog_schema.jsonschema_export import load_schema
from execlog_schema.models import LogBatch
from execlog_worker.db import create_pool, migrate
from execlog_worker.settings import Settings
from execlog_worker.writer import LogWriter, raw_to_text


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    """RFC 3339 date-time with a mandatory offset (jsonschema has no built-in checker)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _schema_validator(major: int) -> Draft202012Validator:
    schema = load_schema(major)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


SchemaValidatorFactory = Callable[[int], Draft202012Validator]
SenderFactory = Callable[..., "RecordingSender"]


@pytest.fixture()
def schema_validator() -> SchemaValidatorFactory:
    """``schema_validator(major)``: a jsonschema validator of the committed
    ``log_batch.v<major>.json`` (independent of the pydantic models)."""
    return _schema_validator


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


class MemoryWriter:
    """Stands in for ``LogWriter`` where no database is needed; dead letters go through the
    worker's real ``raw_to_text``."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.rejects: list[tuple[str, str]] = []

    async def write_batches(self, batches: list[LogBatch]) -> Any:
        from execlog_worker.writer import WriteResult

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
