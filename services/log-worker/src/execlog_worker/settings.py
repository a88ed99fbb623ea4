"""Settings of the log-worker service: one ``Settings`` read from environment variables.

Every field is read from its upper-cased name (``DATABASE_URL``, ``REDIS_HOST``, ...), no prefix,
so the usual Redis variables (REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD) work unchanged;
the broker fields (``REDIS_*``, ``BROKER_KEY_PREFIX``) are inherited from ``BrokerSettings``.
The old names in ``Settings.RENAMED`` are still read, with a deprecation warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from execlog_broker.settings import BrokerSettings
from execlog_db.url import redact, to_asyncpg_dsn
from execlog_service.settings import Renamed

WriteMethod = Literal["unnest", "copy", "copy_staging"]
LogFormat = Literal["json", "console"]

MIGRATION_LOCK_KEY = 0x6578_6C67_0001
"""Advisory lock key of this service's migrations ("exlg" + 1)."""
PARTITION_LOCK_KEY = 0x6578_6C67_0002
"""Advisory lock key of partition maintenance (ensure / retention)."""


class Settings(BrokerSettings):
    """All configuration of the log-worker processes (Celery worker, HTTP API, CLI)."""

    RENAMED: ClassVar[Mapping[str, str | Renamed]] = {
        "RETRY_BACKOFF_BASE": "task_retry_backoff_base",
        "RETRY_BACKOFF_MAX": "task_retry_backoff_max",
    }

    # --- broker (Redis): REDIS_* and BROKER_KEY_PREFIX come from BrokerSettings (listed first);
    # the timeouts are overridden for their defaults only, which differ from the API's.
    broker_connect_timeout: float = Field(default=5.0, gt=0)
    broker_socket_timeout: float = Field(default=10.0, gt=0)
    broker_visibility_timeout: int = Field(default=900, ge=1)
    result_backend: str | None = Field(default=None, description="unset: results are not stored")

    # --- database
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_pool_min_size: int = Field(
        default=1, ge=0, le=100, description="connections the asyncpg pool keeps open per process"
    )
    db_pool_max_size: int = Field(
        default=4, ge=1, le=200, description="most connections of that pool"
    )
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_command_timeout: float = Field(
        default=60.0, gt=0, description="per statement; well under the task soft time limit"
    )

    # --- Celery worker
    worker_concurrency: int | None = Field(default=None, ge=1, le=256)
    worker_hostname: str = "logs@%h"
    worker_prefetch_multiplier: int = Field(
        default=16,
        ge=1,
        description="messages reserved per pool process: the window coalescing writes from",
    )
    worker_coalesce: bool = Field(
        default=True, description="write queued messages together (execlog_worker.ingest.coalesce)"
    )
    worker_coalesce_max_messages: int = Field(default=100, ge=1, le=10_000)
    worker_coalesce_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    worker_max_tasks_per_child: int = Field(default=1000, ge=1)
    worker_max_memory_per_child: int | None = Field(default=None, ge=1, description="KiB")
    worker_send_task_events: bool = False
    worker_loglevel: str = "INFO"
    worker_logfile: str | None = None
    task_time_limit: int = Field(default=300, ge=1)
    task_soft_time_limit: int = Field(default=240, ge=1)
    task_max_retries: int = Field(default=10, ge=0)
    task_retry_backoff_base: float = Field(
        default=1.0, gt=0, description="first delay before a failed write is retried (seconds)"
    )
    task_retry_backoff_max: float = Field(default=60.0, gt=0)
    write_method: WriteMethod = "copy"

    # --- partitions / retention
    partition_days_ahead: int = Field(default=7, ge=1, le=366)
    partition_ensure_interval: float = Field(default=3600.0, gt=0)
    retention_days: int = Field(default=30, ge=1)

    # --- HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8001, ge=0, le=65535)
    log_api_token: SecretStr = SecretStr("")
    api_max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    stream_poll_interval: float = Field(default=0.5, gt=0)
    stream_ping_interval: float = Field(default=15.0, gt=0)
    stream_batch_size: int = Field(default=500, ge=1, le=5000)

    # --- Flower
    flower_port: int = Field(default=5555, ge=1, le=65535)
    flower_address: str = "127.0.0.1"
    flower_basic_auth: SecretStr | None = Field(default=None, description="user:pass[,user:pass]")

    # --- observability
    log_format: LogFormat = "json"
    log_level: str = "INFO"
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    prometheus_multiproc_dir: str | None = None

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        to_asyncpg_dsn(value)
        return value

    @field_validator("flower_basic_auth")
    @classmethod
    def _user_pass(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        for pair in value.get_secret_value().split(","):
            user, sep, password = pair.partition(":")
            if not (user and sep and password):
                raise ValueError("FLOWER_BASIC_AUTH must be user:pass (comma-separated pairs)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("TASK_SOFT_TIME_LIMIT must be below TASK_TIME_LIMIT")
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        # An unacked message (running, or held with a retry ETA) returns to the queue after
        # visibility_timeout: shorter than what a task can legitimately take means duplicates.
        floor = self.task_time_limit + self.task_retry_backoff_max
        if self.broker_visibility_timeout <= floor:
            raise ValueError(
                f"BROKER_VISIBILITY_TIMEOUT ({self.broker_visibility_timeout}s) must exceed "
                f"TASK_TIME_LIMIT + TASK_RETRY_BACKOFF_MAX ({floor:g}s)"
            )
        return self

    @property
    def database_url_redacted(self) -> str:
        """Database URL with the password masked, for logs."""
        return redact(self.database_url)

    @property
    def asyncpg_dsn(self) -> str:
        """DATABASE_URL as a plain postgresql:// DSN (accepts postgresql+asyncpg:// too)."""
        return to_asyncpg_dsn(self.database_url)

    @property
    def queue_key(self) -> str:
        """Redis key of the ``logs`` list, as kombu names it (prefix included)."""
        from execlog_schema.wire import QUEUE_NAME

        return f"{self.broker_key_prefix}{QUEUE_NAME}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide Settings, read once from the environment."""
    return Settings()
