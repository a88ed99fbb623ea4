"""``ProducerSettings``: everything the producer reads, from ``EXECLOG_``-prefixed variables.

Every field is read from ``EXECLOG_`` + its upper-cased name (``EXECLOG_BUFFER_SIZE``,
``EXECLOG_REDIS_URL``, ``EXECLOG_BROKER_KEY_PREFIX``...), by the rules of every execlog service
(``execlog_service.settings``: a blank variable is unset). The broker fields are those of
``execlog_broker.settings.BrokerSettings``, with the short timeouts of a publisher on a
request path. A service with settings of its own builds one with
``ProducerSettings.model_validate({...})``, which reads no environment variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from execlog_broker.settings import BrokerSettings
from execlog_producer.redaction import DEFAULT_REDACT_KEYS

ENV_PREFIX = "EXECLOG_"


class ProducerSettings(BrokerSettings):
    """Buffering, delivery (broker, HTTP fallback, spool) and redaction of one ExecutionLogger."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    broker_connect_timeout: float = Field(default=1.0, gt=0)
    broker_socket_timeout: float = Field(default=2.0, gt=0)
    broker_publish_max_retries: int = Field(default=2, ge=0, le=20)
    broker_retry_interval: float = Field(default=0.2, ge=0)
    broker_retry_interval_max: float = Field(default=1.0, ge=0)
    broker_down_backoff: float = Field(
        default=1.0, gt=0, description="first pause before probing a failed broker again"
    )
    broker_down_backoff_max: float = Field(default=30.0, gt=0)

    service_name: str = Field(
        default="execlog-producer",
        min_length=1,
        max_length=64,
        description="stamped on every batch",
    )
    default_component: str = Field(
        default="app", min_length=1, description="component of a record logged without one"
    )
    worker_url: str = Field(
        default="http://127.0.0.1:8001", description="log-worker API, for the HTTP fallback"
    )
    api_token: SecretStr = SecretStr("")

    buffer_size: int = Field(default=50, ge=1, le=100_000)
    flush_interval: float = Field(default=2.0, gt=0, le=3600)
    max_buffered_records: int = Field(default=10_000, ge=1)
    max_buffered_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    spool_dir: Path = Path("/var/tmp/execlog-api-spool")  # noqa: S108
    spool_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    spool_file_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    replay_interval: float = Field(default=5.0, gt=0)
    http_fallback: bool = True
    publish_process: bool = Field(
        default=True,
        description="publish from a forked child process, so Celery's CPU never holds this "
        "process's GIL",
    )
    http_fallback_timeout: float = Field(default=5.0, gt=0)
    shutdown_timeout: float = Field(default=30.0, gt=0)
    redact_keys: Annotated[tuple[str, ...], NoDecode] = DEFAULT_REDACT_KEYS

    @field_validator("redact_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("worker_url")
    @classmethod
    def _check_worker_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("the log-worker URL must be an http:// or https:// URL (or empty)")
        return value.rstrip("/")
