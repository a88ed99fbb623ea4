"""The publisher child process against real Redis: batches arrive with their task ids, a dead
or hung child is replaced, a broker error comes back as DeliveryError, and the child outlives
SIGTERM/SIGINT until the pipe closes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_testkit import queued_messages, task_batches
from producer_testkit import small_batch

from execlog_producer.delivery.celery_sender import BrokerOptions
from execlog_producer.delivery.errors import DeliveryError
from execlog_producer.delivery.publisher_process import PublisherProcess, frame, unframe
from execlog_schema.wire import QUEUE_NAME
from execlog_stack.ports import free_port
from execlog_stack.process import python_env
from execlog_stack.proxy import TcpProxy
from execlog_stack.waiting import wait_for


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie), read from /proc so the child is not reaped here."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture()
def publisher(redis_url: str, broker_key_prefix: str) -> Iterator[PublisherProcess]:
    options = BrokerOptions(url=redis_url, key_prefix=broker_key_prefix, socket_timeout=1.0)
    sender = PublisherProcess(options)
    try:
        yield sender
    finally:
        sender.close()


def test_api_publisher_frames_round_trip() -> None:
    assert unframe(frame("b1", 3, b'{"x":1}')) == ("b1", 3, b'{"x":1}')
    with pytest.raises(ValueError, match="malformed request frame"):
        unframe(b"b1 3")
    with pytest.raises(ValueError, match="malformed request frame"):
        unframe(b"b1\n{}")


def test_api_publisher_publishes_from_a_child_process(
    publisher: PublisherProcess, redis_url: str, broker_key_prefix: str
) -> None:
    child = publisher.pid
    assert child is not None
    assert child != os.getpid()
    sent = [small_batch(n) for n in (1, 2, 3)]
    for one in sent:
        publisher.send(one)
    messages = queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}")
    assert [m["headers"]["id"] for m in messages] == [str(b.batch_id) for b in sent]
    assert [len(b["records"]) for b in task_batches(messages)] == [1, 2, 3]
    publisher.close()
    assert not alive(child)


def test_api_publisher_replaces_a_dead_child(
    publisher: PublisherProcess, redis_url: str, broker_key_prefix: str
) -> None:
    first = publisher.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not alive(first), timeout=10, what="the child gone")
    publisher.send(small_batch())
    assert publisher.restarts == 1
    assert publisher.pid not in (None, first)
    assert len(queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}")) == 1


def test_api_publisher_broker_error_is_a_delivery_error() -> None:
    options = BrokerOptions(
        url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2, max_retries=0
    )
    sender = PublisherProcess(options)
    try:
        child = sender.pid
        with pytest.raises(DeliveryError, match="broker publish failed"):
            sender.send(small_batch())
        assert sender.pid == child, "a broker error must not cost the child"
    finally:
        sender.close()


def test_api_publisher_hung_child_is_killed_and_replaced(
    redis_url: str, broker_key_prefix: str
) -> None:
    with TcpProxy("127.0.0.1", free_port()) as hung:
        hung.cut("blackhole")
        options = BrokerOptions(url=hung.url_for(redis_url), socket_timeout=30, max_retries=0)
        sender = PublisherProcess(options, timeout=1.0)
        try:
            child = sender.pid
            assert child is not None
            started = time.monotonic()
            with pytest.raises(DeliveryError, match="did not answer within"):
                sender.send(small_batch())
            assert time.monotonic() - started < 10
            assert not alive(child)
            assert sender.pid is None
        finally:
            sender.close()


def test_api_publisher_child_ignores_stop_signals_until_the_pipe_closes(
    publisher: PublisherProcess, redis_url: str, broker_key_prefix: str
) -> None:
    child = publisher.pid
    assert child is not None
    os.kill(child, signal.SIGTERM)
    os.kill(child, signal.SIGINT)
    time.sleep(0.3)
    publisher.send(small_batch())
    assert publisher.pid == child
    assert len(queued_messages(redis_url, f"{broker_key_prefix}{QUEUE_NAME}")) == 1
    publisher.close()
    assert not alive(child)


EXIT_WITHOUT_CLOSE = """
import sys
import time
from execlog_producer.delivery.publisher_process import PublisherProcess
from execlog_producer.delivery.celery_sender import BrokerOptions
publisher = PublisherProcess(BrokerOptions(url=sys.argv[1], key_prefix=sys.argv[2]))
print(publisher.pid, flush=True)
time.sleep(1)  # the child is in its read loop by now
"""


def test_api_publisher_parent_exiting_without_close_takes_the_child_along(
    redis_url: str, broker_key_prefix: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_CLOSE, redis_url, broker_key_prefix],
        env=python_env({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    child = int(done.stdout.split()[0])
    wait_for(lambda: not alive(child), timeout=10, what="the orphaned child gone")
