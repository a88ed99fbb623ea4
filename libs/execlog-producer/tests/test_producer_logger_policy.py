"""ExecutionLogger buffer policy with a fake transport: size, interval, flush, shutdown, load,
overflow spill, fallback order, spool replay (pure logic, no network)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from producer_testkit import FakeSender

from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import ExecutionLogger, LoggerConfig
from execlog_schema.limits import MAX_RECORDS_PER_BATCH

MakeLogger = Callable[..., tuple[ExecutionLogger, FakeSender]]
EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-000000000001")


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def delivered(sender: FakeSender) -> int:
    return sum(len(b.records) for b in sender.batches)


async def test_producer_log_returns_record_with_id_at_once(make_logger: MakeLogger) -> None:
    logger, _ = make_logger(buffer_size=50, flush_interval=60)
    record = logger.log(EXECUTION, "info", "hello", node_id="n1", payload={"k": 1})
    assert record.id.version == 7
    assert record.execution_id == EXECUTION
    assert record.node_id == "n1"
    assert record.payload == {"k": 1}
    assert logger.buffer.depth == 1


async def test_producer_flush_on_size(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=10, flush_interval=60)
    for i in range(9):
        logger.info(EXECUTION, f"m{i}")
    await asyncio.sleep(0.3)
    assert sender.batches == []
    logger.info(EXECUTION, "m9")
    await wait_for(lambda: delivered(sender) == 10)
    assert [len(b.records) for b in sender.batches] == [10]


async def test_producer_flush_on_interval(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=0.3)
    started = time.monotonic()
    for i in range(3):
        logger.info(EXECUTION, f"m{i}")
    await asyncio.sleep(0.1)
    assert sender.batches == []
    await wait_for(lambda: delivered(sender) == 3)
    assert time.monotonic() - started >= 0.29
    assert len(sender.batches) == 1


async def test_producer_explicit_flush_sends_everything_now(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    ids = [logger.info(EXECUTION, f"m{i}").id for i in range(7)]
    assert await logger.flush(timeout=5) == 7
    assert [r.id for b in sender.batches for r in b.records] == ids
    assert await logger.flush(timeout=5) == 0


async def test_producer_shutdown_flushes_buffer(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    for i in range(5):
        logger.info(EXECUTION, f"m{i}")
    await logger.aclose(timeout=5)
    assert delivered(sender) == 5
    assert not logger.running


async def test_producer_size_trigger_is_a_minimum_under_load(make_logger: MakeLogger) -> None:
    broker = FakeSender()
    logger, _ = make_logger(broker=broker, buffer_size=10, flush_interval=60)
    broker.gate.clear()
    for i in range(10):
        logger.info(EXECUTION, f"first{i}")
    await wait_for(lambda: broker.attempts == 1)
    for i in range(1190):
        logger.info(EXECUTION, f"m{i}")
    broker.gate.set()
    await logger.flush(timeout=5)
    sizes = [len(b.records) for b in broker.batches]
    assert sum(sizes) == 1200
    assert sizes == [10, MAX_RECORDS_PER_BATCH, MAX_RECORDS_PER_BATCH, 190]


async def test_producer_message_count_falls_as_load_rises(make_logger: MakeLogger) -> None:
    broker = FakeSender(delay=0.02)
    logger, _ = make_logger(broker=broker, buffer_size=50, flush_interval=60)
    for i in range(5000):
        logger.info(EXECUTION, f"m{i}")
    await logger.flush(timeout=10)
    assert delivered(broker) == 5000
    assert len(broker.batches) < 5000 / 50
    assert max(len(b.records) for b in broker.batches) <= MAX_RECORDS_PER_BATCH


async def test_producer_overflow_spills_to_disk_and_replays(
    make_logger: MakeLogger, spool_dir: Path
) -> None:
    broker = FakeSender()
    logger, _ = make_logger(
        broker=broker,
        buffer_size=10,
        flush_interval=60,
        max_records=100,
        replay_interval=0.05,
    )
    broker.gate.clear()
    ids = [str(logger.info(EXECUTION, f"m{i}").id) for i in range(1000)]
    m = logger.metrics

    def spooled() -> float:
        return m.value("execlog_spooled_records_total", {"reason": "overflow"}) + m.value(
            "execlog_spooled_records_total", {"reason": "backpressure"}
        )

    # The spill thread takes records off the buffer before it writes and counts them.
    await wait_for(lambda: logger.buffer.depth <= 100 and spooled() >= 800)
    assert logger.metrics.value("execlog_spooled_bytes_total") > 0
    assert list(spool_dir.glob("*.jsonl"))
    broker.gate.set()
    await logger.flush(timeout=5)
    await wait_for(lambda: len(broker.record_ids()) == 1000)
    await wait_for(lambda: not list(spool_dir.glob("*.jsonl")))
    got = broker.record_ids()
    assert sorted(got) == sorted(ids)
    assert len(set(got)) == len(got)
    await wait_for(lambda: m.value("execlog_replayed_records_total") == spooled())
    assert logger.metrics.dropped_total() == 0


async def test_producer_http_fallback_when_broker_fails(make_logger: MakeLogger) -> None:
    broker = FakeSender()
    broker.fail = True
    http = FakeSender(name="http")
    logger, _ = make_logger(broker=broker, http=http, buffer_size=5, flush_interval=60)
    for i in range(5):
        logger.info(EXECUTION, f"m{i}")
    await logger.flush(timeout=5)
    assert delivered(http) == 5
    assert broker.batches == []
    assert logger.metrics.value("execlog_fallbacks_total", {"target": "http"}) == 1
    assert logger.metrics.value("execlog_send_failures_total", {"transport": "broker"}) == 1
    assert logger.state()["broker_ok"] is False


async def test_producer_spool_when_all_fail_then_replay_without_loss_or_duplicates(
    make_logger: MakeLogger, spool_dir: Path
) -> None:
    broker = FakeSender()
    http = FakeSender(name="http")
    broker.fail = http.fail = True
    logger, _ = make_logger(
        broker=broker, http=http, buffer_size=20, flush_interval=0.05, replay_interval=0.05
    )
    ids = [str(logger.info(EXECUTION, f"m{i}").id) for i in range(300)]
    await logger.flush(timeout=5)
    assert broker.batches == []
    assert http.batches == []
    assert logger.metrics.value("execlog_spooled_records_total", {"reason": "send_failed"}) == 300
    assert logger.metrics.value("execlog_spool_pending_files") >= 1
    broker.fail = False
    await wait_for(lambda: len(broker.record_ids()) == 300)
    await wait_for(lambda: not list(spool_dir.glob("*.jsonl")))
    got = broker.record_ids()
    assert sorted(got) == sorted(ids)
    assert len(set(got)) == 300
    assert http.batches == []


async def test_producer_log_after_close_is_spooled_and_replayed_by_next_start(
    spool_dir: Path,
) -> None:
    first = FakeSender()
    chain = DeliveryChain(first, DiskSpool(spool_dir, file_max_bytes=1 << 20, max_bytes=1 << 30))
    logger = ExecutionLogger(lambda: chain, LoggerConfig(buffer_size=5, flush_interval=60))
    logger.info(EXECUTION, "before close")
    logger.close(timeout=5)
    late = logger.info(EXECUTION, "after close")
    assert logger.metrics.value("execlog_spooled_records_total", {"reason": "closed"}) == 1
    assert [str(r.id) for b in first.batches for r in b.records] != [str(late.id)]

    second = FakeSender()
    chain2 = DeliveryChain(second, DiskSpool(spool_dir, file_max_bytes=1 << 20, max_bytes=1 << 30))
    restarted = ExecutionLogger(lambda: chain2, LoggerConfig(buffer_size=5, flush_interval=60))
    restarted.start()
    try:
        await wait_for(lambda: second.record_ids() == [str(late.id)])
    finally:
        restarted.close(timeout=5)
    assert restarted.metrics.dropped_total() == 0


async def test_producer_flush_returns_when_everything_is_down(make_logger: MakeLogger) -> None:
    broker = FakeSender()
    broker.fail = True
    logger, _ = make_logger(broker=broker, buffer_size=1000, flush_interval=60)
    logger.info(EXECUTION, "x")
    assert await logger.flush(timeout=5) == 1
    assert logger.metrics.value("execlog_fallbacks_total", {"target": "spool"}) == 1


def test_producer_log_rejects_programmer_errors(make_logger: MakeLogger) -> None:
    logger, _ = make_logger()
    with pytest.raises(ValueError, match="UUID"):
        logger.log("not-a-uuid", "info", "x")
    with pytest.raises(ValueError, match="level"):
        logger.log(EXECUTION, "loud", "x")


def test_producer_metrics_count_logged_and_sent(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    for i in range(12):
        logger.debug(EXECUTION, f"m{i}")
    logger.flush_sync(timeout=5)
    m = logger.metrics
    assert m.value("execlog_records_logged_total") == 12
    assert m.value("execlog_batches_sent_total", {"route": "broker", "origin": "live"}) == 1
    assert m.value("execlog_records_sent_total", {"route": "broker", "origin": "live"}) == 12
    assert m.value("execlog_buffer_depth") == 0
    assert m.dropped_total() == 0
