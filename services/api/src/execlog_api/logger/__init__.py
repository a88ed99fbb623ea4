"""The API's use of the execlog producer: its logger built from the API's Settings, the
process-wide instance, and the comparison sinks (LOG_SINK)."""

from execlog_api.logger.setup import logger_from_settings
from execlog_api.logger.singleton import get_execution_logger, set_execution_logger

__all__ = ["get_execution_logger", "logger_from_settings", "set_execution_logger"]
