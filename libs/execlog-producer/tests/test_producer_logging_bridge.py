"""ExecutionLogHandler with a real ExecutionLogger and a fake broker: what a stdlib record
becomes when shipped (execution, level, message, node/component, payload, error), and which
records are passed on untouched (no execution, structlog's, the handler's own, failures)."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from producer_testkit import FakeSender

from execlog_producer.context import bind_execution
from execlog_producer.execution_logger import ExecutionLog, ExecutionLogger
from execlog_producer.logging_bridge import ExecutionLogHandler, extra_payload, level_of
from execlog_schema.models import LogLevel

MakeLogger = Callable[..., tuple[ExecutionLogger, FakeSender]]
EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000b1")
OTHER_EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000b2")


class CollectingHandler(logging.Handler):
    """Another handler of the same logger: what it receives was passed on."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class RecordingErrorsHandler(ExecutionLogHandler):
    """ExecutionLogHandler that keeps what reached handleError instead of printing it."""

    def __init__(self, execution_logger: ExecutionLogger) -> None:
        super().__init__(execution_logger)
        self.failed: list[tuple[logging.LogRecord, BaseException | None]] = []

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (stdlib name)
        self.failed.append((record, sys.exc_info()[1]))


class Bridged:
    """A stdlib logger with the bridge and a collecting handler, and the logger behind it."""

    def __init__(self, make_logger: MakeLogger, name: str) -> None:
        self.execution_logger, self.sender = make_logger(flush_interval=60)
        self.handler = RecordingErrorsHandler(self.execution_logger)
        self.passed_on = CollectingHandler()
        self.log = logging.getLogger(name)
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False
        self.log.addHandler(self.handler)
        self.log.addHandler(self.passed_on)

    def shipped(self) -> list[ExecutionLog]:
        """Every record the fake broker received, once everything logged was flushed."""
        self.execution_logger.flush_sync(timeout=10)
        return [record for batch in self.sender.batches for record in batch.records]

    def detach(self) -> None:
        self.log.removeHandler(self.handler)
        self.log.removeHandler(self.passed_on)


@pytest.fixture()
def bridged(make_logger: MakeLogger, request: pytest.FixtureRequest) -> Iterator[Bridged]:
    setup = Bridged(make_logger, f"execlog.test.{request.node.name}")
    yield setup
    setup.detach()


def test_producer_logging_bridge_ships_a_record_with_execution_extra(bridged: Bridged) -> None:
    bridged.log.info(
        "step %s done in %d ms",
        "fetch",
        12,
        extra={
            "execution_id": str(EXECUTION),
            "node_id": "n1",
            "component": "runner",
            "workflow_id": OTHER_EXECUTION,
            "attempt": 2,
            "rows": 5,
            "tags": ["a", "b"],
            "nested": {"k": [1, 2.5, None, True]},
            "request": object(),  # not plain JSON: left out
            "_private": "x",  # private: left out
            "payload": {"password": "hunter2", "rows": 6},
        },
    )
    [record] = bridged.shipped()
    assert record.execution_id == EXECUTION
    assert record.level is LogLevel.INFO
    assert record.message == "step fetch done in 12 ms"
    assert record.node_id == "n1"
    assert record.component == "runner"
    assert record.workflow_id == OTHER_EXECUTION
    assert record.attempt == 2
    # the payload extra wins over the plain extras; the logger's redaction applies
    assert record.payload == {
        "rows": 6,
        "tags": ["a", "b"],
        "nested": {"k": [1, 2.5, None, True]},
        "password": "[REDACTED]",
    }
    # the handler adds a destination: the other handlers still get the record
    assert [r.getMessage() for r in bridged.passed_on.records] == ["step fetch done in 12 ms"]
    assert bridged.handler.failed == []
    assert bridged.execution_logger.metrics.value("execlog_records_logged_total") == 1


def test_producer_logging_bridge_ships_from_the_binding(bridged: Bridged) -> None:
    with bind_execution(EXECUTION, node_id="n1", component="runner"):
        bridged.log.warning("bound")
        bridged.log.warning("own node", extra={"node_id": "n2"})
        bridged.log.warning("other execution", extra={"execution_id": OTHER_EXECUTION})
    bridged.log.warning("after the block")
    shipped = bridged.shipped()
    assert [(r.execution_id, r.node_id, r.component, r.message) for r in shipped] == [
        (EXECUTION, "n1", "runner", "bound"),
        (EXECUTION, "n2", "runner", "own node"),
        # another execution does not take the bound node and component (logger default: app)
        (OTHER_EXECUTION, None, "app", "other execution"),
    ]
    assert all(r.level is LogLevel.WARNING and r.payload == {} for r in shipped)
    assert len(bridged.passed_on.records) == 4


@pytest.mark.parametrize(
    ("stdlib_level", "schema_level"),
    [
        (logging.DEBUG, LogLevel.DEBUG),
        (logging.INFO, LogLevel.INFO),
        (logging.WARNING, LogLevel.WARNING),
        (logging.ERROR, LogLevel.ERROR),
        (logging.CRITICAL, LogLevel.CRITICAL),
        (25, LogLevel.INFO),  # a custom level rounds down
        (5, LogLevel.DEBUG),  # below DEBUG
    ],
)
def test_producer_logging_bridge_maps_levels(
    bridged: Bridged, stdlib_level: int, schema_level: LogLevel
) -> None:
    assert level_of(stdlib_level) is schema_level
    bridged.log.setLevel(1)
    bridged.log.log(stdlib_level, "leveled", extra={"execution_id": EXECUTION})
    [record] = bridged.shipped()
    assert record.level is schema_level


def test_producer_logging_bridge_ships_the_exception_as_error(bridged: Bridged) -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        bridged.log.exception("step failed", extra={"execution_id": EXECUTION, "step": 3})
    [record] = bridged.shipped()
    assert record.level is LogLevel.ERROR
    assert record.message == "step failed"
    assert record.payload == {"step": 3, "error": {"type": "ValueError", "message": "bad input"}}


def test_producer_logging_bridge_passes_on_records_without_execution(bridged: Bridged) -> None:
    bridged.log.info("no execution here", extra={"rows": 1})
    assert bridged.shipped() == []
    assert bridged.execution_logger.metrics.value("execlog_records_logged_total") == 0
    assert [r.getMessage() for r in bridged.passed_on.records] == ["no execution here"]
    assert bridged.handler.failed == []


def test_producer_logging_bridge_emit_never_raises(bridged: Bridged) -> None:
    bridged.log.error("bad id", extra={"execution_id": "not-a-uuid"})
    bridged.log.error("bad attempt", extra={"execution_id": EXECUTION, "attempt": -1})
    # arguments that do not fit the message (straight to the handler: pytest's own capture
    # handler would fail on this record too)
    bridged.handler.handle(
        logging.makeLogRecord({"msg": "bad args %d", "args": ("x",), "execution_id": EXECUTION})
    )
    assert bridged.shipped() == []
    assert [type(error) for _, error in bridged.handler.failed] == [
        ValueError,
        ValueError,
        TypeError,
    ]
    assert len(bridged.passed_on.records) == 2  # the other handlers still got them


def test_producer_logging_bridge_default_handle_error_prints_to_stderr(
    make_logger: MakeLogger, capsys: pytest.CaptureFixture[str]
) -> None:
    execution_logger, _ = make_logger()
    handler = ExecutionLogHandler(execution_logger)
    record = logging.makeLogRecord(
        {"msg": "bad id", "levelno": logging.INFO, "execution_id": "not-a-uuid"}
    )
    handler.handle(record)  # must not raise
    assert "--- Logging error ---" in capsys.readouterr().err


def test_producer_logging_bridge_passes_on_structlog_records(bridged: Bridged) -> None:
    structlog_logger = structlog.wrap_logger(
        bridged.log,
        processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    with bind_execution(EXECUTION):
        structlog_logger.info("from structlog", execution_id=str(EXECUTION))
    # ship_to_execlog ships structlog's events: the handler does not ship them a second time
    assert bridged.shipped() == []
    assert len(bridged.passed_on.records) == 1


def test_producer_logging_bridge_does_not_ship_what_it_logs_while_shipping(
    bridged: Bridged, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = bridged.execution_logger
    log_record = logger.log

    def log_and_warn(*args: Any, **kwargs: Any) -> ExecutionLog:
        # the producer logging while it logs, as its back-pressure warning does
        bridged.log.warning("producer warning while shipping")
        return log_record(*args, **kwargs)

    monkeypatch.setattr(logger, "log", log_and_warn)
    with bind_execution(EXECUTION):
        bridged.log.info("outer")
    assert [r.message for r in bridged.shipped()] == ["outer"]
    assert sorted(r.getMessage() for r in bridged.passed_on.records) == [
        "outer",
        "producer warning while shipping",
    ]


def test_producer_logging_bridge_extra_payload_rules() -> None:
    record = logging.makeLogRecord(
        {"msg": "m", "execution_id": EXECUTION, "payload": [1, 2], "n": 1, "deep": [[[[]]]]}
    )
    assert extra_payload(record) == {"payload": [1, 2], "n": 1, "deep": [[[[]]]]}
    too_deep: list[Any] = []
    for _ in range(20):
        too_deep = [too_deep]
    record = logging.makeLogRecord({"msg": "m", "deep": too_deep, "keys": {1: "x"}})
    assert extra_payload(record) == {}
