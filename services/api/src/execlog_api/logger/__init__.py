"""ExecutionLogger and its parts: buffer, delivery, redaction, metrics."""

from execlog_api.logger.execution_logger import (
    ExecutionLog,
    ExecutionLogger,
    LoggerConfig,
)
from execlog_api.logger.setup import logger_from_settings
from execlog_api.logger.singleton import get_execution_logger, set_execution_logger

__all__ = [
    "ExecutionLog",
    "ExecutionLogger",
    "LoggerConfig",
    "get_execution_logger",
    "logger_from_settings",
    "set_execution_logger",
]
