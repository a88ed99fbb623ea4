"""handle_message (the task body) without Celery: retries on outage, dead letters, no loss."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
from worker_testkit import fetch

from execlog_schema.codec import batch_to_wire
from execlog_worker.ingest.child_runtime import ChildRuntime
from execlog_worker.ingest.tasks import Done, RetryLater, backoff, handle_message
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.ops.schema import migrate
from execlog_worker.settings import Settings


@pytest.fixture()
def proxied(settings: Settings, pg_proxy: Any) -> Iterator[tuple[Settings, ChildRuntime]]:
    asyncio.run(migrate(settings))
    via_proxy = settings.model_copy(
        update={"database_url": pg_proxy.url_for(settings.database_url)}
    )
    runtime = ChildRuntime(via_proxy)
    try:
        yield via_proxy, runtime
    finally:
        runtime.close()
        asyncio.set_event_loop(None)


def test_worker_tasks_outage_retries_then_writes(
    proxied: tuple[Settings, ChildRuntime], pg_proxy: Any, make_batch: Any, settings: Settings
) -> None:
    s, runtime = proxied
    first = handle_message(batch_to_wire(make_batch(2)), runtime, s, task_id="t1")
    assert isinstance(first, Done)
    assert first.result.written == 2

    pg_proxy.cut()
    wire = batch_to_wire(make_batch(3))
    outcome = handle_message(wire, runtime, s, retries=0, task_id="t2")
    assert isinstance(outcome, RetryLater)
    assert 0.1 <= outcome.countdown <= 0.2
    # Out of retries while the database is still down: the dead letter cannot be written
    # either, so the message must keep coming back instead of being acked.
    exhausted = handle_message(wire, runtime, s, retries=s.task_max_retries, task_id="t2")
    assert isinstance(exhausted, RetryLater)

    pg_proxy.restore()
    later = handle_message(wire, runtime, s, retries=1, task_id="t2")
    assert isinstance(later, Done)
    assert later.result.written == 3
    again = handle_message(wire, runtime, s, retries=2, task_id="t2")
    assert isinstance(again, Done)
    assert (again.result.written, again.result.duplicates) == (0, 3)
    rows = asyncio.run(fetch(settings.asyncpg_dsn, "SELECT count(*) AS n FROM execution_logs"))
    assert rows[0]["n"] == 5


def test_worker_tasks_retries_exhausted_and_permanent_go_to_dead_letter(
    proxied: tuple[Settings, ChildRuntime],
    make_batch: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s, runtime = proxied
    errors: list[BaseException] = [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.DataError("value out of range"),
    ]

    async def failing(self: LogWriter, batches: Any, *, source: str = "task") -> Any:
        raise errors.pop(0)

    monkeypatch.setattr(LogWriter, "write_batches", failing)
    wire = batch_to_wire(make_batch(1))
    retry = handle_message(wire, runtime, s, retries=0)
    assert isinstance(retry, RetryLater)
    assert "ConnectionDoesNotExistError" in retry.reason
    buried = handle_message(wire, runtime, s, retries=s.task_max_retries)
    assert isinstance(buried, Done)
    assert buried.result.status == "dead_lettered"
    permanent = handle_message(batch_to_wire(make_batch(1)), runtime, s, retries=0)
    assert isinstance(permanent, Done)
    assert "permanent" in (permanent.result.reason or "")
    rows = asyncio.run(
        fetch(settings.asyncpg_dsn, "SELECT kind, reason FROM execution_log_rejects ORDER BY id")
    )
    assert [r["kind"] for r in rows] == ["write_failed", "write_failed"]
    assert "gave up after 3 retries" in rows[0]["reason"]


def test_worker_tasks_backoff_grows_with_jitter_and_cap() -> None:
    values = [backoff(n, 1.0, 60.0) for n in range(10)]
    for n, value in enumerate(values):
        ceiling = min(60.0, 2.0**n)
        assert ceiling / 2 <= value <= ceiling
    assert len({backoff(3, 1.0, 60.0) for _ in range(20)}) > 1
