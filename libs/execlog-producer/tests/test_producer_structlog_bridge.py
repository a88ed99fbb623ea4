"""ship_to_execlog with a real ExecutionLogger and a fake broker, inside a real structlog chain:
what an event becomes when shipped (execution, level, message, node/component, payload, error),
that the event dict goes on down the chain unchanged, and which events pass untouched."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from producer_testkit import FakeSender
from structlog.testing import CapturingLogger
from structlog.typing import EventDict, Processor, WrappedLogger

from execlog_producer.context import bind_execution
from execlog_producer.execution_logger import ExecutionLog, ExecutionLogger
from execlog_producer.logging_bridge import ExecutionLogHandler
from execlog_producer.structlog_bridge import (
    ExecutionLogProcessor,
    error_of,
    event_payload,
    level_of,
    ship_to_execlog,
)
from execlog_schema.models import LogLevel

MakeLogger = Callable[..., tuple[ExecutionLogger, FakeSender]]
EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000d1")
OTHER_EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000d2")


class Chain:
    """A structlog logger whose chain holds the bridge; records what the bridge handed on."""

    def __init__(self, make_logger: MakeLogger) -> None:
        self.execution_logger, self.sender = make_logger(flush_interval=60)
        self.processor = ship_to_execlog(self.execution_logger)
        self.before_bridge: list[EventDict] = []
        self.after_bridge: list[EventDict] = []
        self.output = CapturingLogger()
        self.log: Any = structlog.wrap_logger(
            self.output,
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                self.keep(self.before_bridge),
                self.processor,
                self.keep(self.after_bridge),
                structlog.processors.KeyValueRenderer(key_order=["event"]),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            context_class=dict,
        )

    @staticmethod
    def keep(into: list[EventDict]) -> Callable[..., EventDict]:
        """A processor keeping a copy of each event dict as it is at that point of the chain."""

        def keep_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
            into.append(copy.deepcopy(event_dict))
            return event_dict

        return keep_event

    def shipped(self) -> list[ExecutionLog]:
        """Every record the fake broker received, once everything logged was flushed."""
        self.execution_logger.flush_sync(timeout=10)
        return [record for batch in self.sender.batches for record in batch.records]


@pytest.fixture()
def chain(make_logger: MakeLogger) -> Chain:
    return Chain(make_logger)


def test_producer_structlog_bridge_ships_an_event_bound_with_contextvars(chain: Chain) -> None:
    with structlog.contextvars.bound_contextvars(
        execution_id=str(EXECUTION), node_id="n1", component="runner"
    ):
        chain.log.info(
            "step done",
            rows=5,
            workflow_id=OTHER_EXECUTION,
            attempt=1,
            token="s3cret",
            _hidden="x",
        )
    [record] = chain.shipped()
    assert record.execution_id == EXECUTION
    assert record.level is LogLevel.INFO
    assert record.message == "step done"
    assert record.node_id == "n1"
    assert record.component == "runner"
    assert record.workflow_id == OTHER_EXECUTION
    assert record.attempt == 1
    # no timestamp, level, fields or private keys; the logger's redaction applies
    assert record.payload == {"rows": 5, "token": "[REDACTED]"}
    # the chain went on with an unchanged event dict
    assert chain.after_bridge == chain.before_bridge
    assert chain.after_bridge[0]["execution_id"] == str(EXECUTION)
    assert "timestamp" in chain.after_bridge[0]
    [call] = chain.output.calls
    assert call.method_name == "info"
    assert call.args[0].startswith("event='step done'")
    assert chain.processor.failures == 0


def test_producer_structlog_bridge_ships_from_the_binding(chain: Chain) -> None:
    with bind_execution(EXECUTION, node_id="n1", component="brain"):
        chain.log.warning("bound")
        chain.log.warning("own node", node_id="n2")
        chain.log.warning("other execution", execution_id=OTHER_EXECUTION)
    chain.log.warning("after the block")
    shipped = chain.shipped()
    assert [(r.execution_id, r.node_id, r.component, r.message) for r in shipped] == [
        (EXECUTION, "n1", "brain", "bound"),
        (EXECUTION, "n2", "brain", "own node"),
        (OTHER_EXECUTION, None, "app", "other execution"),
    ]
    assert all(r.level is LogLevel.WARNING and r.payload == {} for r in shipped)
    assert len(chain.output.calls) == 4
    assert chain.after_bridge == chain.before_bridge


@pytest.mark.parametrize(
    ("method_name", "schema_level"),
    [
        ("debug", LogLevel.DEBUG),
        ("info", LogLevel.INFO),
        ("warning", LogLevel.WARNING),
        ("error", LogLevel.ERROR),
        ("critical", LogLevel.CRITICAL),
    ],
)
def test_producer_structlog_bridge_maps_levels_in_a_chain(
    chain: Chain, method_name: str, schema_level: LogLevel
) -> None:
    getattr(chain.log, method_name)("leveled", execution_id=EXECUTION)
    [record] = chain.shipped()
    assert record.level is schema_level


def test_producer_structlog_bridge_level_rules() -> None:
    assert level_of("info", {"level": "error"}) is LogLevel.ERROR  # the level key wins
    assert level_of("warn", {}) is LogLevel.WARNING
    assert level_of("fatal", {}) is LogLevel.CRITICAL
    assert level_of("exception", {}) is LogLevel.ERROR
    assert level_of("msg", {"level": logging.WARNING}) is LogLevel.WARNING
    assert level_of("msg", {}) is LogLevel.INFO  # not a level: INFO
    assert level_of("failure", {"level": "nonsense"}) is LogLevel.INFO


def test_producer_structlog_bridge_ships_the_exception_as_error(chain: Chain) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        chain.log.exception("lookup failed", execution_id=EXECUTION, key="k")
    [record] = chain.shipped()
    assert record.level is LogLevel.ERROR
    assert record.message == "lookup failed"
    assert record.payload == {"key": "k", "error": {"type": "KeyError", "message": "'missing'"}}
    assert chain.after_bridge[0]["exc_info"] is True  # left for the renderer


def test_producer_structlog_bridge_error_of() -> None:
    error = RuntimeError("x")
    assert error_of(error) is error
    assert error_of((RuntimeError, error, None)) is error
    assert error_of(True) is None  # nothing being handled
    assert error_of(None) is None
    assert error_of(False) is None


def test_producer_structlog_bridge_events_without_execution_pass_untouched(chain: Chain) -> None:
    chain.log.info("no execution here", rows=1)
    assert chain.shipped() == []
    assert chain.execution_logger.metrics.value("execlog_records_logged_total") == 0
    assert chain.after_bridge == chain.before_bridge
    assert len(chain.output.calls) == 1


def test_producer_structlog_bridge_never_raises(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    chain.log.info("bad id", execution_id="not-a-uuid")
    chain.log.info("bad attempt", execution_id=EXECUTION, attempt=-1)
    assert chain.shipped() == []
    assert chain.processor.failures == 2
    assert capsys.readouterr().err.count("--- execlog structlog bridge: event not shipped") == 2
    assert len(chain.output.calls) == 2  # the events went on down the chain
    assert chain.after_bridge == chain.before_bridge


def test_producer_structlog_bridge_returns_the_same_dict_it_got(make_logger: MakeLogger) -> None:
    execution_logger, sender = make_logger(flush_interval=60)
    processor = ship_to_execlog(execution_logger)
    assert isinstance(processor, ExecutionLogProcessor)
    event_dict: EventDict = {
        "event": 42,
        "execution_id": EXECUTION,
        "level": "debug",
        "logger": "app.jobs",
        "timestamp": "2026-01-01T00:00:00Z",
        "positional_args": (1,),
        "payload_key": {"a": 1},
    }
    snapshot = copy.deepcopy(event_dict)
    assert processor(None, "debug", event_dict) is event_dict
    assert event_dict == snapshot
    execution_logger.flush_sync(timeout=10)
    [record] = [r for b in sender.batches for r in b.records]
    assert record.message == "42"
    assert record.level is LogLevel.DEBUG
    assert record.payload == {"payload_key": {"a": 1}}
    assert event_payload(event_dict) == {"payload_key": {"a": 1}}


def test_producer_structlog_bridge_does_not_ship_what_it_logs_while_shipping(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = chain.execution_logger
    log_record = logger.log

    def log_and_warn(*args: Any, **kwargs: Any) -> ExecutionLog:
        # the producer logging while it logs, as its back-pressure warning does
        chain.log.warning("producer warning while shipping")
        return log_record(*args, **kwargs)

    monkeypatch.setattr(logger, "log", log_and_warn)
    with bind_execution(EXECUTION):
        chain.log.info("outer")
    assert [r.message for r in chain.shipped()] == ["outer"]
    assert sorted(e["event"] for e in chain.after_bridge) == [
        "outer",
        "producer warning while shipping",
    ]


def test_producer_structlog_bridge_leaves_stdlib_records_to_the_handler(
    make_logger: MakeLogger,
) -> None:
    """One processor list as chain and foreign_pre_chain, plus the stdlib handler: every line
    is shipped exactly once (stdlib lines by the handler, structlog events by the processor)."""
    execution_logger, sender = make_logger(flush_interval=60)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        ship_to_execlog(execution_logger),
    ]
    rendered: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            rendered.append(self.format(record))

    printer = Keep()
    printer.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.KeyValueRenderer(key_order=["event"]),
            ],
        )
    )
    stdlib_logger = logging.getLogger("execlog.test.structlog_and_stdlib")
    stdlib_logger.setLevel(logging.DEBUG)
    stdlib_logger.propagate = False
    stdlib_logger.addHandler(ExecutionLogHandler(execution_logger))
    stdlib_logger.addHandler(printer)
    structlog_logger: Any = structlog.wrap_logger(
        stdlib_logger,
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    try:
        with bind_execution(EXECUTION):
            stdlib_logger.info("from stdlib")
            structlog_logger.info("from structlog")
    finally:
        stdlib_logger.handlers.clear()
    execution_logger.flush_sync(timeout=10)
    shipped = [r.message for b in sender.batches for r in b.records]
    assert sorted(shipped) == ["from stdlib", "from structlog"]
    assert len(rendered) == 2
