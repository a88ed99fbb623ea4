"""execlog log payload contract: models, limits, sanitizing, builder, codec, schema, fixtures."""

from execlog_schema._version import __version__
from execlog_schema.codec import batch_to_wire, decode_batch, encode_batch
from execlog_schema.errors import BatchRejected
from execlog_schema.models import (
    SCHEMA_MAJOR,
    SCHEMA_VERSION,
    LogBatch,
    LogLevel,
    LogRecord,
    Producer,
)
from execlog_schema.wire import QUEUE_NAME, TASK_NAME, register_kombu_json

__all__ = [
    "QUEUE_NAME",
    "SCHEMA_MAJOR",
    "SCHEMA_VERSION",
    "TASK_NAME",
    "BatchRejected",
    "LogBatch",
    "LogLevel",
    "LogRecord",
    "Producer",
    "__version__",
    "batch_to_wire",
    "decode_batch",
    "encode_batch",
    "register_kombu_json",
]
