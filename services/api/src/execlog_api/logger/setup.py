"""The API's ExecutionLogger, built from its Settings (LOG_SINK picks the comparison sinks)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from execlog_api._version import __version__
from execlog_api.settings import Settings
from execlog_producer import ExecutionLogger, LoggerMetrics, logger_config
from execlog_producer import logger_from_settings as producer_from_settings
from execlog_schema.builder import make_producer


def logger_from_settings(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    *,
    engine: AsyncEngine | None = None,
) -> ExecutionLogger:
    """An ExecutionLogger wired to the broker, log-worker and spool of ``settings``
    (LOG_SINK=off or direct: the comparison sinks of ``execlog_api.logger.sinks``)."""
    from execlog_api.logger.sinks import DirectWriteLogger, DiscardingLogger

    producer_settings = settings.producer_settings()
    if settings.log_sink == "off":
        return DiscardingLogger(
            logger_config(producer_settings),
            metrics=LoggerMetrics(registry),
            producer=make_producer(settings.service_name, __version__),
        )
    if settings.log_sink == "direct":
        if engine is None:
            raise ValueError("LOG_SINK=direct needs the API's database engine")
        return DirectWriteLogger(
            engine,
            logger_config(producer_settings),
            metrics=LoggerMetrics(registry),
            producer=make_producer(settings.service_name, __version__),
        )
    return producer_from_settings(producer_settings, registry, service_version=__version__)
