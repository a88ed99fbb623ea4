"""DiskSpool format and replay, DeliveryChain order and breaker, HttpFallback (no network)."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from pathlib import Path

import httpx
import pytest
from producer_testkit import FakeSender, small_batch

from execlog_producer.delivery.chain import Breaker, DeliveryChain, Route
from execlog_producer.delivery.errors import DeliveryError, SpoolError, WorkerRejectedError
from execlog_producer.delivery.http_fallback import HttpFallback
from execlog_producer.delivery.spool import DiskSpool
from execlog_schema.codec import decode_batch
from execlog_schema.models import LogBatch


def spool(path: Path, **kw: int) -> DiskSpool:
    return DiskSpool(
        path,
        file_max_bytes=kw.get("file_max_bytes", 1 << 20),
        max_bytes=kw.get("max_bytes", 1 << 30),
    )


def test_producer_spool_file_is_one_json_batch_per_line(spool_dir: Path) -> None:
    s = spool(spool_dir)
    batches = [small_batch(), small_batch(2)]
    for b in batches:
        s.append(b)
    s.seal()
    (path,) = s.files()
    assert path.name.endswith(".jsonl")
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["batch_id"] for line in lines] == [str(b.batch_id) for b in batches]
    assert decode_batch(lines[0]) == decode_batch(batches[0])


def test_producer_spool_replay_oldest_first_keeps_batch_ids(spool_dir: Path) -> None:
    s = spool(spool_dir, file_max_bytes=1)
    batches = [small_batch(1) for _ in range(4)]
    for b in batches:
        s.append(b)
    assert len(s.files()) == 4
    got: list[LogBatch] = []
    result = s.replay(got.append)
    assert [b.batch_id for b in got] == [b.batch_id for b in batches]
    assert [b.records for b in got] == [b.records for b in batches]
    assert result.batches == 4
    assert result.records == 4
    assert result.files_done == 4
    assert s.files() == []
    assert not list(spool_dir.iterdir())


def test_producer_spool_replay_resumes_after_failure_without_resending(spool_dir: Path) -> None:
    s = spool(spool_dir)
    batches = [small_batch(1) for _ in range(5)]
    for b in batches:
        s.append(b)
    sent: list[uuid.UUID] = []

    def flaky(b: LogBatch) -> None:
        if len(sent) == 2:
            raise ConnectionError("down again")
        sent.append(b.batch_id)

    first = s.replay(flaky)
    assert first.batches == 2
    assert first.stopped_by_error is not None
    assert len(s.files()) == 1
    again = DiskSpool(spool_dir, file_max_bytes=1 << 20, max_bytes=1 << 30)
    rest: list[uuid.UUID] = []
    again.replay(lambda b: rest.append(b.batch_id))
    assert sent + rest == [b.batch_id for b in batches]
    assert again.files() == []


def test_producer_spool_replay_is_bounded_per_round(spool_dir: Path) -> None:
    s = spool(spool_dir)
    for _ in range(5):
        s.append(small_batch(1))
    got: list[LogBatch] = []
    assert s.replay(got.append, max_batches=2).batches == 2
    assert s.replay(got.append, max_batches=2).batches == 2
    assert s.replay(got.append, max_batches=2).batches == 1
    assert len({b.batch_id for b in got}) == 5
    assert s.files() == []


def test_producer_spool_torn_line_is_moved_aside(spool_dir: Path) -> None:
    s = spool(spool_dir)
    good = small_batch(2)
    s.append(good)
    s.seal()
    (path,) = s.files()
    with open(path, "ab") as f:
        f.write(b'{"schema_version": "1.0", "batch_id": "trunc')
    got: list[LogBatch] = []
    result = s.replay(got.append)
    assert [b.batch_id for b in got] == [good.batch_id]
    assert result.corrupt_lines == 1
    assert s.files() == []
    assert (spool_dir / "rejected" / path.name).read_bytes().startswith(b'{"schema_version"')


def test_producer_spool_skips_files_locked_by_a_writer(spool_dir: Path) -> None:
    writer = spool(spool_dir)
    writer.append(small_batch(1))
    (path,) = writer.files()
    reader = spool(spool_dir)
    got: list[LogBatch] = []
    reader.replay(got.append)
    assert got == []
    assert path.exists()
    writer.seal()
    reader.replay(got.append)
    assert len(got) == 1
    assert not path.exists()


def test_producer_spool_file_left_by_dead_process_is_replayed(spool_dir: Path) -> None:
    s = spool(spool_dir)
    b = small_batch(2)
    s.append(b)
    fd = os.open(s.files()[0], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        pytest.fail("the writer's lock should be held")
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    s.close()
    got: list[LogBatch] = []
    spool(spool_dir).replay(got.append)
    assert [x.batch_id for x in got] == [b.batch_id]


def test_producer_spool_max_bytes_raises(spool_dir: Path) -> None:
    s = spool(spool_dir, max_bytes=2000)
    one = small_batch(3)
    s.append(one)
    with pytest.raises(SpoolError, match="LOG_SPOOL_MAX_BYTES"):
        s.append(small_batch(30))
    assert s.pending_bytes() <= 2000


def test_producer_spool_appends_survive_reopen(spool_dir: Path) -> None:
    s = spool(spool_dir)
    s.append(small_batch(1))
    s.close()
    s2 = spool(spool_dir)
    s2.append(small_batch(1))
    s2.close()
    got: list[LogBatch] = []
    spool(spool_dir).replay(got.append)
    assert len(got) == 2


def test_producer_chain_order_broker_http_spool(spool_dir: Path) -> None:
    broker, http = FakeSender(), FakeSender("http")
    failures: list[str] = []
    chain = DeliveryChain(
        broker,
        spool(spool_dir),
        http,
        backoff=60,
        on_failure=lambda t, e: failures.append(t),
    )
    assert chain.deliver(small_batch()) is Route.BROKER
    broker.fail = True
    assert chain.deliver(small_batch()) is Route.HTTP
    assert broker.attempts == 2
    assert chain.deliver(small_batch()) is Route.HTTP
    assert broker.attempts == 2, "breaker open: broker skipped"
    http.fail = True
    assert chain.deliver(small_batch()) is Route.SPOOL
    assert failures == ["broker", "http"]
    with pytest.raises(DeliveryError):
        chain.send_network(small_batch())


def test_producer_breaker_backs_off_exponentially() -> None:
    now = [0.0]
    breaker = Breaker(1.0, 4.0, clock=lambda: now[0])
    assert breaker.allows()
    breaker.failure()
    assert not breaker.allows()
    now[0] = 1.0
    assert breaker.allows()
    breaker.failure()
    now[0] = 2.5
    assert not breaker.allows()
    now[0] = 3.0
    assert breaker.allows()
    breaker.failure()
    breaker.failure()
    assert breaker.seconds_until_probe() == pytest.approx(4.0)
    breaker.success()
    assert breaker.allows()
    assert breaker.seconds_until_probe() == 0.0


def test_producer_http_fallback_posts_batch_with_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"accepted": 3})

    fallback = HttpFallback("http://worker", "s3cret", transport=httpx.MockTransport(handler))
    b = small_batch()
    fallback.send(b)
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/v1/batches"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert decode_batch(request.content).batch_id == b.batch_id


@pytest.mark.parametrize("status", [401, 413, 500, 503])
def test_producer_http_fallback_non_2xx_is_a_failure(status: int) -> None:
    fallback = HttpFallback(
        "http://worker", "t", transport=httpx.MockTransport(lambda r: httpx.Response(status))
    )
    with pytest.raises(DeliveryError, match=str(status)):
        fallback.send(small_batch())


def test_producer_http_fallback_422_is_a_final_rejection(spool_dir: Path) -> None:
    fallback = HttpFallback(
        "http://worker",
        "t",
        transport=httpx.MockTransport(lambda r: httpx.Response(422, json={"reject_id": 7})),
    )
    with pytest.raises(WorkerRejectedError):
        fallback.send(small_batch())
    broker = FakeSender()
    broker.fail = True
    chain = DeliveryChain(broker, spool(spool_dir), fallback)
    assert chain.deliver(small_batch()) is Route.REJECTED
    assert spool(spool_dir).files() == []


def test_producer_http_fallback_network_error_is_a_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fallback = HttpFallback("http://worker", "t", transport=httpx.MockTransport(refuse))
    with pytest.raises(DeliveryError, match="unreachable"):
        fallback.send(small_batch())
