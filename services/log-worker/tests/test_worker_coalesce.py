"""Coalescing (execlog_worker.ingest.coalesce): one write for many queued messages, acks after it.

The strategy is driven with a fake pool and fake messages (what Celery's consumer hands it);
``run_group`` (what a pool process runs) against a real database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson
import pytest

from execlog_schema.codec import batch_to_wire
from execlog_worker.ingest import coalesce
from execlog_worker.ingest.child_runtime import ChildRuntime
from execlog_worker.ingest.coalesce import ACK, FALLBACK, Item, run_group
from execlog_worker.ops.schema import migrate
from execlog_worker.settings import Settings

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _body(arg: object) -> bytes:
    return orjson.dumps([[arg], {}, EMBED])


def _item(arg: object, task_id: str = "t") -> Item:
    return (_body(arg), "application/json", "utf-8", task_id)


async def _one(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.fixture()
def runtime(settings: Settings) -> Iterator[ChildRuntime]:
    asyncio.run(migrate(settings))
    rt = ChildRuntime(settings.model_copy(update={"write_method": "copy"}))
    try:
        yield rt
    finally:
        rt.close()
        asyncio.set_event_loop(None)


def test_worker_coalesce_group_writes_valid_and_dead_letters_each_invalid(
    runtime: ChildRuntime, settings: Settings, make_batch: Any
) -> None:
    good = [batch_to_wire(make_batch(3)), batch_to_wire(make_batch(4))]
    bad = {**batch_to_wire(make_batch(1)), "schema_version": "9.0"}
    items = [_item(good[0], "a"), _item(bad, "b"), (b"not json", "application/json", "utf-8", "c")]
    items.append(_item(good[1], "d"))
    assert run_group(items, runtime) == [ACK] * 4
    dsn = settings.asyncpg_dsn
    assert asyncio.run(_one(dsn, "SELECT count(*) FROM execution_logs")) == 7
    assert asyncio.run(_one(dsn, "SELECT count(*) FROM execution_log_rejects")) == 2
    # Redelivery of the same group: idempotent, the dead letters only count occurrences.
    assert run_group(items, runtime) == [ACK] * 4
    assert asyncio.run(_one(dsn, "SELECT count(*) FROM execution_logs")) == 7
    assert asyncio.run(_one(dsn, "SELECT sum(occurrences) FROM execution_log_rejects")) == 4


def test_worker_coalesce_group_falls_back_per_message_when_the_write_fails(
    settings: Settings, pg_proxy: Any, make_batch: Any
) -> None:
    asyncio.run(migrate(settings))
    url = pg_proxy.url_for(settings.database_url)
    rt = ChildRuntime(settings.model_copy(update={"database_url": url}))
    try:
        pg_proxy.cut()
        items = [_item(batch_to_wire(make_batch(2))), _item(batch_to_wire(make_batch(2)))]
        assert run_group(items, rt) == [FALLBACK, FALLBACK]
    finally:
        rt.close()
        asyncio.set_event_loop(None)
    assert asyncio.run(_one(settings.asyncpg_dsn, "SELECT count(*) FROM execution_logs")) == 0


class FakeMessage:
    """The parts of a kombu Message the strategy uses."""

    def __init__(self, n: int, retries: int = 0) -> None:
        self.headers = {"task": "execlog.batch_write_logs", "id": f"id-{n}", "retries": retries}
        self.body = _body({"n": n})
        self.content_type = "application/json"
        self.content_encoding = "utf-8"
        self.channel = None
        self.acknowledged = False
        self.events: list[str] = []

    def ack_log_error(self, logger: Any, errors: Any) -> None:
        self.acknowledged = True
        self.events.append("ack")

    def reject_log_error(self, logger: Any, errors: Any, requeue: bool = False) -> None:
        self.events.append(f"reject(requeue={requeue})")


class FakePool:
    """Records apply_async calls; the test completes them."""

    num_processes = 1

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []

    def apply_async(self, target: Callable[..., Any], args: Any = (), **options: Any) -> None:
        self.jobs.append({"target": target, "args": args, **options})


@pytest.fixture()
def strategy(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> tuple[Callable[..., Any], FakePool, list[Any]]:
    per_message: list[Any] = []

    def default(task: Any, app: Any, consumer: Any, **kw: Any) -> Callable[..., Any]:
        return lambda message, body, ack, reject, callbacks, **k: per_message.append(message)

    monkeypatch.setattr(coalesce, "default_strategy", default)
    coalesce.configure(settings.model_copy(update={"worker_coalesce_max_messages": 3}))
    pool = FakePool()

    class Consumer:
        connection_errors = (ConnectionError,)

    consumer = Consumer()
    consumer.pool = pool  # type: ignore[attr-defined]

    class Task:
        name = "execlog.batch_write_logs"
        soft_time_limit = None
        time_limit = None

    class App:
        class conf:  # noqa: N801
            task_soft_time_limit = 10
            task_time_limit = 20

    handler = coalesce.coalescing_strategy(Task(), App(), consumer)
    return handler, pool, per_message


def test_worker_coalesce_strategy_groups_while_busy_and_acks_only_after_the_write(
    strategy: tuple[Callable[..., Any], FakePool, list[Any]],
) -> None:
    handler, pool, per_message = strategy
    msgs = [FakeMessage(i) for i in range(6)]
    for m in msgs:
        handler(m, None, None, None, None)
    # A free process takes the first message at once; the rest wait, then go 3 at a time.
    assert [len(j["args"][0]) for j in pool.jobs] == [1]
    assert not any(m.events for m in msgs)
    pool.jobs[0]["callback"]([ACK])
    assert msgs[0].events == ["ack"]
    assert [len(j["args"][0]) for j in pool.jobs] == [1, 3]
    assert not any(m.events for m in msgs[1:])
    pool.jobs[1]["callback"]([ACK, FALLBACK, ACK])
    assert (msgs[1].events, msgs[2].events, msgs[3].events) == (["ack"], [], ["ack"])
    assert per_message == [msgs[2]]
    # The process dies during the last group: its messages go back to the queue.
    pool.jobs[2]["error_callback"](RuntimeError("worker lost"))
    assert [m.events for m in msgs[4:]] == [["reject(requeue=True)"]] * 2
    assert not pool.jobs[3:]


def test_worker_coalesce_strategy_keeps_retries_on_the_per_message_path(
    strategy: tuple[Callable[..., Any], FakePool, list[Any]],
) -> None:
    handler, pool, per_message = strategy
    retry = FakeMessage(1, retries=2)
    handler(retry, None, None, None, None)
    assert per_message == [retry]
    assert not pool.jobs
    garbage = FakeMessage(2)
    garbage.headers = {}
    handler(garbage, None, None, None, None)
    assert per_message == [retry, garbage]


def test_worker_coalesce_strategy_off_is_the_default_strategy(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = object()
    monkeypatch.setattr(coalesce, "default_strategy", lambda *a, **k: sentinel)
    coalesce.configure(settings.model_copy(update={"worker_coalesce": False}))
    strategy = coalesce.coalescing_strategy(object(), object(), object())
    assert strategy is sentinel
