"""Build an ExecutionLogger (with its transports) from the service Settings."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from execlog_api.logger.delivery.celery_sender import BrokerOptions, CelerySender
from execlog_api.logger.delivery.chain import DeliveryChain
from execlog_api.logger.delivery.http_fallback import HttpFallback
from execlog_api.logger.delivery.publisher_process import PublisherProcess
from execlog_api.logger.delivery.spool import DiskSpool
from execlog_api.logger.execution_logger import ExecutionLogger, LoggerConfig
from execlog_api.logger.metrics import LoggerMetrics
from execlog_api.settings import Settings


def broker_options(settings: Settings) -> BrokerOptions:
    """Celery publishing options from the settings."""
    return BrokerOptions(
        url=settings.broker_url,
        key_prefix=settings.broker_key_prefix,
        connect_timeout=settings.broker_connect_timeout,
        socket_timeout=settings.broker_socket_timeout,
        max_retries=settings.broker_publish_max_retries,
        retry_interval=settings.broker_retry_interval,
        retry_interval_max=settings.broker_retry_interval_max,
        sentinel_master=settings.redis_sentinel_master,
        sentinel_password=(
            settings.redis_sentinel_password.get_secret_value()
            if settings.redis_sentinel_password is not None
            else None
        ),
    )


def chain_from_settings(settings: Settings) -> DeliveryChain:
    """broker -> HTTP fallback (when LOG_HTTP_FALLBACK and LOG_WORKER_URL) -> disk spool.

    The broker is published to from a child process when LOG_PUBLISH_PROCESS (the default).
    """
    http = None
    if settings.log_http_fallback and settings.log_worker_url:
        http = HttpFallback(
            settings.log_worker_url,
            settings.log_api_token.get_secret_value(),
            timeout=settings.log_http_fallback_timeout,
        )
    options = broker_options(settings)
    broker = PublisherProcess(options) if settings.log_publish_process else CelerySender(options)
    return DeliveryChain(
        broker,
        DiskSpool(
            settings.log_spool_dir,
            file_max_bytes=settings.log_spool_file_max_bytes,
            max_bytes=settings.log_spool_max_bytes,
        ),
        http,
        backoff=settings.broker_down_backoff,
        backoff_max=settings.broker_down_backoff_max,
    )


def logger_config(settings: Settings) -> LoggerConfig:
    """Buffer/limit/timing settings of the logger."""
    return LoggerConfig(
        buffer_size=settings.log_buffer_size,
        flush_interval=settings.log_flush_interval,
        max_records=settings.log_max_buffered_records,
        max_bytes=settings.log_max_buffered_bytes,
        replay_interval=settings.log_replay_interval,
        shutdown_timeout=settings.log_shutdown_timeout,
        redact_keys=settings.log_redact_keys,
    )


def logger_from_settings(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    *,
    engine: AsyncEngine | None = None,
) -> ExecutionLogger:
    """An ExecutionLogger wired to the broker, log-worker and spool of ``settings``
    (LOG_SINK=off or direct: the comparison sinks of ``execlog_api.logger.sinks``)."""
    from execlog_api._version import __version__
    from execlog_api.logger.sinks import DirectWriteLogger, DiscardingLogger
    from execlog_schema.builder import make_producer

    if settings.log_sink == "off":
        return DiscardingLogger(
            logger_config(settings),
            metrics=LoggerMetrics(registry),
            producer=make_producer(settings.service_name, __version__),
        )
    if settings.log_sink == "direct":
        if engine is None:
            raise ValueError("LOG_SINK=direct needs the API's database engine")
        return DirectWriteLogger(
            engine,
            logger_config(settings),
            metrics=LoggerMetrics(registry),
            producer=make_producer(settings.service_name, __version__),
        )
    return ExecutionLogger(
        lambda: chain_from_settings(settings),
        logger_config(settings),
        metrics=LoggerMetrics(registry),
        producer=make_producer(settings.service_name, __version__),
    )
