"""Scenario 8: poison messages on the queue go to the dead-letter table; the worker goes on.

Bad messages are published straight to the ``logs`` queue (as a buggy or hostile producer
would): a batch that breaks the contract, a batch of another schema major, a task argument
that is a string of non-JSON text, and a task message whose body is not JSON at all. Each
must land in execution_log_rejects with a reason (never retried forever, never dropped
silently), and the good batch published after them must be stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import batch_to_wire
from execlog_stack.load import LogsDatabase
from execlog_stack.stack import Stack
from execlog_stack.waiting import async_wait_for

pytestmark = pytest.mark.timeout(120)


def _good_batch(execution_id: uuid.UUID, n: int) -> dict[str, Any]:
    producer = make_producer("e2e-poison", "0.0.0")
    records = [
        new_record(execution_id=execution_id, level="INFO", message=f"good {i}", component="e2e")
        for i in range(n)
    ]
    return batch_to_wire(new_batch(records, producer))


def _ids(batch: dict[str, Any]) -> set[uuid.UUID]:
    return {uuid.UUID(r["id"]) for r in batch["records"]}


async def _wait_stored(db: LogsDatabase, execution_id: uuid.UUID, ids: set[uuid.UUID]) -> None:
    async def stored() -> bool:
        return ids <= {r.id for r in await db.rows([execution_id])}

    await async_wait_for(stored, timeout=30, what=f"{len(ids)} good records stored")


async def _wait_rejects(db: LogsDatabase, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]]:
        rows = await db.rejects()
        return rows if len(rows) >= count else []

    try:
        return await async_wait_for(enough, timeout=timeout, what=f"{count} dead letters")
    finally:
        print(f"dead letters: {await db.rejects()}")


async def test_e2e_poison_batches_are_dead_lettered(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(workers=1)
    broker = stack.broker
    db = LogsDatabase(stack.logs_database_url)
    execution_id = uuid.uuid4()

    broken = _good_batch(execution_id, 2)
    broken["records"] = "not a list"
    other_major = _good_batch(execution_id, 2)
    other_major["schema_version"] = "2.0"
    broker.send_batch(broken)
    broker.send_batch(other_major)
    broker.send_batch("{this is not json")
    good = _good_batch(execution_id, 5)
    broker.send_batch(good)

    await _wait_stored(db, execution_id, _ids(good))
    rejects = await _wait_rejects(db, 3)
    assert len(rejects) == 3, rejects
    assert all(r["reason"] for r in rejects), rejects
    assert {r["kind"] for r in rejects} == {"invalid"}, rejects
    assert any("2.0" in r["reason"] for r in rejects), rejects
    assert any("not json" in r["reason"].lower() for r in rejects), rejects
    assert not _ids(other_major) & {r.id for r in await db.rows([execution_id])}
    assert stack.workers[0].running

    after = _good_batch(execution_id, 3)
    broker.send_batch(after)
    await _wait_stored(db, execution_id, _ids(after))
    assert len(await db.rejects()) == 3


async def test_e2e_undecodable_body_is_dead_lettered(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(workers=1)
    broker = stack.broker
    db = LogsDatabase(stack.logs_database_url)
    execution_id = uuid.uuid4()

    broker.publish_raw(b"\xff\xfe{not: json at all")
    good = _good_batch(execution_id, 5)
    broker.send_batch(good)

    await _wait_stored(db, execution_id, _ids(good))
    assert stack.workers[0].running
    rejects = await _wait_rejects(db, 1, timeout=5)
    assert rejects[0]["reason"], rejects
