"""The execlog producer: ``ExecutionLogger.log()`` appends to a buffer and returns at once;
threads ship batches through the broker (queue ``logs``), else log-worker's HTTP ingest, else
a disk spool replayed later. Configured by ``ProducerSettings`` (``EXECLOG_*`` variables)."""

from execlog_producer._version import __version__
from execlog_producer.context import ExecutionBinding, bind_execution, current_binding
from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.errors import DeliveryError, SpoolError
from execlog_producer.execution_logger import ExecutionLog, ExecutionLogger, LoggerConfig
from execlog_producer.from_settings import (
    broker_options,
    chain_from_settings,
    logger_config,
    logger_from_settings,
)
from execlog_producer.logging_bridge import ExecutionLogHandler
from execlog_producer.metrics import LoggerMetrics
from execlog_producer.redaction import DEFAULT_REDACT_KEYS
from execlog_producer.settings import ProducerSettings
from execlog_producer.structlog_bridge import ship_to_execlog

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "DeliveryChain",
    "DeliveryError",
    "ExecutionBinding",
    "ExecutionLog",
    "ExecutionLogHandler",
    "ExecutionLogger",
    "LoggerConfig",
    "LoggerMetrics",
    "ProducerSettings",
    "SpoolError",
    "__version__",
    "bind_execution",
    "broker_options",
    "chain_from_settings",
    "current_binding",
    "logger_config",
    "logger_from_settings",
    "ship_to_execlog",
]
