"""configure_logging: structlog and stdlib lines of the same shape, context and exceptions."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import structlog

from execlog_service.log_setup import configure_logging, get_logger


def read_lines(path: Path) -> list[dict[str, object]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [orjson.loads(line) for line in path.read_text().splitlines()]


def test_structlog_and_stdlib_lines_share_one_shape_with_bound_context(tmp_path: Path) -> None:
    logfile = tmp_path / "service.log"
    configure_logging("json", "INFO", str(logfile))
    with structlog.contextvars.bound_contextvars(request_id="r-1", execution_id="e-1"):
        get_logger("execlog.test").info("from structlog", n=1)
        logging.getLogger("celery.worker").info("from stdlib %s", "celery")
    first, second = read_lines(logfile)
    assert first["event"] == "from structlog"
    assert first["n"] == 1
    assert second["event"] == "from stdlib celery"
    for line in (first, second):
        assert {"event", "level", "logger", "timestamp", "request_id", "execution_id"} <= set(line)
        assert (line["request_id"], line["execution_id"], line["level"]) == ("r-1", "e-1", "info")


def test_an_exception_is_a_structured_list_from_either_side(tmp_path: Path) -> None:
    logfile = tmp_path / "service.log"
    configure_logging("json", "INFO", str(logfile))
    for logger in (get_logger("execlog.test"), logging.getLogger("uvicorn.error")):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    lines = read_lines(logfile)
    assert len(lines) == 2
    for line in lines:
        exception = line["exception"]
        assert isinstance(exception, list), line
        assert exception[0]["exc_type"] == "ValueError"
        assert exception[0]["exc_value"] == "boom"


def test_quiet_loggers_and_level(tmp_path: Path) -> None:
    logfile = tmp_path / "service.log"
    configure_logging("json", "warning", str(logfile))
    logging.getLogger("uvicorn.access").warning("kept")
    logging.getLogger("asyncio").info("dropped")
    get_logger("execlog.test").info("below the level")
    assert [line["event"] for line in read_lines(logfile)] == ["kept"]
