"""Build an ExecutionLogger (with its delivery chain) from ``ProducerSettings``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from execlog_producer._version import __version__
from execlog_producer.delivery.celery_sender import BrokerOptions, CelerySender
from execlog_producer.delivery.chain import DeliveryChain
from execlog_producer.delivery.http_fallback import HttpFallback
from execlog_producer.delivery.publisher_process import PublisherProcess
from execlog_producer.delivery.spool import DiskSpool
from execlog_producer.execution_logger import ExecutionLogger, LoggerConfig
from execlog_producer.metrics import LoggerMetrics
from execlog_producer.settings import ProducerSettings
from execlog_schema.builder import make_producer


def broker_options(settings: ProducerSettings) -> BrokerOptions:
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


def chain_from_settings(settings: ProducerSettings) -> DeliveryChain:
    """broker -> HTTP fallback (when ``http_fallback`` and ``worker_url``) -> disk spool.

    The broker is published to from a child process when ``publish_process`` (the default).
    """
    http = None
    if settings.http_fallback and settings.worker_url:
        http = HttpFallback(
            settings.worker_url,
            settings.api_token.get_secret_value(),
            timeout=settings.http_fallback_timeout,
        )
    options = broker_options(settings)
    broker = PublisherProcess(options) if settings.publish_process else CelerySender(options)
    return DeliveryChain(
        broker,
        DiskSpool(
            settings.spool_dir,
            file_max_bytes=settings.spool_file_max_bytes,
            max_bytes=settings.spool_max_bytes,
        ),
        http,
        backoff=settings.broker_down_backoff,
        backoff_max=settings.broker_down_backoff_max,
    )


def logger_config(settings: ProducerSettings) -> LoggerConfig:
    """Buffer/limit/timing settings of the logger."""
    return LoggerConfig(
        buffer_size=settings.buffer_size,
        flush_interval=settings.flush_interval,
        max_records=settings.max_buffered_records,
        max_bytes=settings.max_buffered_bytes,
        replay_interval=settings.replay_interval,
        shutdown_timeout=settings.shutdown_timeout,
        default_component=settings.default_component,
        redact_keys=settings.redact_keys,
    )


def logger_from_settings(
    settings: ProducerSettings | None = None,
    registry: CollectorRegistry | None = None,
    *,
    service_version: str = __version__,
) -> ExecutionLogger:
    """An ExecutionLogger wired to the broker, log-worker and spool of ``settings`` (default:
    read from the environment); its batches name ``settings.service_name`` at
    ``service_version``, its metrics go to ``registry`` (default: one of its own)."""
    settings = ProducerSettings() if settings is None else settings
    return ExecutionLogger(
        lambda: chain_from_settings(settings),
        logger_config(settings),
        metrics=LoggerMetrics(registry),
        producer=make_producer(settings.service_name, service_version),
    )
