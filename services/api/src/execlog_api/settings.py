"""Settings of the API service: one ``Settings`` read from environment variables.

Every field is read from the upper-cased field name (``LOG_BUFFER_SIZE``, ``REDIS_URL``...);
the broker fields (``REDIS_*``, ``BROKER_KEY_PREFIX``) are inherited from ``BrokerSettings``.
The old names in ``Settings.RENAMED`` are still read, with a deprecation warning. The producer's
settings keep the API's names (``LOG_*``, ``BROKER_*``, ``SERVICE_NAME``), not the library's
``EXECLOG_*``: :meth:`Settings.producer_settings` maps them (``PRODUCER_FIELDS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from execlog_broker.settings import BrokerSettings
from execlog_db.engine import PoolSettings
from execlog_db.url import redact, to_async_url
from execlog_producer import DEFAULT_REDACT_KEYS, ProducerSettings
from execlog_service.settings import Renamed

DEFAULT_DB_POOL_MIN_SIZE = 5
PRODUCER_FIELDS: Mapping[str, str] = {
    "worker_url": "log_worker_url",
    "api_token": "log_api_token",
    "buffer_size": "log_buffer_size",
    "flush_interval": "log_flush_interval",
    "max_buffered_records": "log_max_buffered_records",
    "max_buffered_bytes": "log_max_buffered_bytes",
    "spool_dir": "log_spool_dir",
    "spool_max_bytes": "log_spool_max_bytes",
    "spool_file_max_bytes": "log_spool_file_max_bytes",
    "replay_interval": "log_replay_interval",
    "http_fallback": "log_http_fallback",
    "publish_process": "log_publish_process",
    "http_fallback_timeout": "log_http_fallback_timeout",
    "shutdown_timeout": "log_shutdown_timeout",
    "redact_keys": "log_redact_keys",
}
"""``ProducerSettings`` field -> the API's field it comes from; any other producer field (the
broker's, ``service_name``) has the same name in both."""
PRODUCER_COMPONENT = "api"
"""The component of a record the API logs without one."""
OLD_DEFAULT_MAX_OVERFLOW = 10
"""The default of DB_POOL__MAX_OVERFLOW, connections above DB_POOL__POOL_SIZE (before 0.2.0)."""


def _max_size_from_overflow(raw: str, values: Mapping[str, Any]) -> int:
    """DB_POOL_MAX_SIZE from the old DB_POOL__MAX_OVERFLOW: connections above the pool size."""
    try:
        overflow = int(raw)
    except ValueError:
        raise ValueError(f"DB_POOL__MAX_OVERFLOW must be an integer, not {raw!r}") from None
    if overflow < 0:
        raise ValueError("DB_POOL__MAX_OVERFLOW must be >= 0")
    min_size = values.get("db_pool_min_size", DEFAULT_DB_POOL_MIN_SIZE)
    try:
        return int(min_size) + overflow
    except (TypeError, ValueError):
        return overflow  # DB_POOL_MIN_SIZE is invalid: its own error is reported


class Settings(BrokerSettings):
    """All configuration of the API process (HTTP service, engine and ExecutionLogger)."""

    RENAMED: ClassVar[Mapping[str, str | Renamed]] = {
        "DB_POOL__POOL_SIZE": "db_pool_min_size",
        "DB_POOL__MAX_OVERFLOW": Renamed(
            "db_pool_max_size",
            _max_size_from_overflow,
            "set it to DB_POOL_MIN_SIZE + DB_POOL__MAX_OVERFLOW",
        ),
        "DB_POOL__POOL_TIMEOUT": "db_pool_timeout",
        "DB_POOL__POOL_PRE_PING": "db_pool_pre_ping",
        "RETRY_BACKOFF_BASE": "step_retry_backoff_base",
        "RETRY_BACKOFF_MAX": "step_retry_backoff_max",
    }

    # --- broker: REDIS_* and BROKER_KEY_PREFIX come from BrokerSettings (listed first); the
    # timeouts are overridden for their defaults only: a publisher on the request path fails fast.
    broker_connect_timeout: float = Field(default=1.0, gt=0)
    broker_socket_timeout: float = Field(default=2.0, gt=0)
    broker_publish_max_retries: int = Field(default=2, ge=0, le=20)
    broker_retry_interval: float = Field(default=0.2, ge=0)
    broker_retry_interval_max: float = Field(default=1.0, ge=0)
    broker_down_backoff: float = Field(
        default=1.0, gt=0, description="first pause before probing a failed broker again"
    )
    broker_down_backoff_max: float = Field(default=30.0, gt=0)

    service_name: str = Field(default="execlog-api", min_length=1, max_length=64)
    host: str = Field(default="127.0.0.1", description="`execlog-api serve` bind address")
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_pool_min_size: int = Field(
        default=DEFAULT_DB_POOL_MIN_SIZE,
        ge=1,
        description="connections the pool keeps open per process (SQLAlchemy pool_size)",
    )
    db_pool_max_size: int = Field(
        default=15,
        ge=1,
        description="most connections per process (SQLAlchemy pool_size + max_overflow)",
    )
    db_pool_timeout: float = Field(
        default=30.0, gt=0, description="seconds a checkout waits for a free connection"
    )
    db_pool_pre_ping: bool = Field(default=True, description="test a connection before use")

    log_worker_url: str = "http://127.0.0.1:8001"
    log_api_token: SecretStr = SecretStr("")
    log_worker_timeout: float = Field(default=10.0, gt=0)

    log_sink: Literal["celery", "off", "direct"] = Field(
        default="celery",
        description="celery: through the queue; off: build and discard (a baseline); direct: one "
        "INSERT per record on the API pool (the design the queue replaces; for comparison only)",
    )
    log_buffer_size: int = Field(default=50, ge=1, le=100_000)
    log_flush_interval: float = Field(default=2.0, gt=0, le=3600)
    log_max_buffered_records: int = Field(default=10_000, ge=1)
    log_max_buffered_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    log_spool_dir: Path = Path("/var/tmp/execlog-api-spool")  # noqa: S108
    log_spool_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    log_spool_file_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    log_replay_interval: float = Field(default=5.0, gt=0)
    log_http_fallback: bool = True
    # Publish from a forked child process, so Celery's CPU never holds this process's GIL.
    log_publish_process: bool = True
    log_http_fallback_timeout: float = Field(default=5.0, gt=0)
    log_shutdown_timeout: float = Field(default=30.0, gt=0)
    log_redact_keys: Annotated[tuple[str, ...], NoDecode] = DEFAULT_REDACT_KEYS

    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    step_default_max_attempts: int = Field(default=3, ge=1, le=100)
    step_retry_backoff_base: float = Field(
        default=0.5, ge=0, description="first pause before a step's next attempt (seconds)"
    )
    step_retry_backoff_max: float = Field(default=30.0, ge=0)
    http_step_max_timeout: float = Field(default=30.0, gt=0)
    http_step_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Hosts http steps may call (comma-separated); empty: any host"
    )
    gc_freeze: bool = Field(
        default=True,
        description="gc.freeze() after startup: shorter full GC pauses on the event loop",
    )
    shutdown_grace: float = Field(
        default=10.0, ge=0, description="seconds running executions get at shutdown before cancel"
    )

    @field_validator("log_redact_keys", "http_step_allowed_hosts", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        to_async_url(value)
        return value

    @field_validator("log_worker_url")
    @classmethod
    def _check_worker_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("LOG_WORKER_URL must be an http:// or https:// URL (or empty)")
        return value.rstrip("/")

    @classmethod
    def complete_renamed(cls, values: dict[str, Any], used: frozenset[str]) -> None:
        """DB_POOL__POOL_SIZE alone still allows its old default overflow above it."""
        if "DB_POOL__POOL_SIZE" in used and "db_pool_max_size" not in values:
            values["db_pool_max_size"] = _max_size_from_overflow(
                str(OLD_DEFAULT_MAX_OVERFLOW), values
            )

    @model_validator(mode="after")
    def _pool_sizes(self) -> Self:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return self

    def producer_settings(self) -> ProducerSettings:
        """The ExecutionLogger's settings, from this API's (no ``EXECLOG_*`` variable is read)."""
        values = {
            name: getattr(self, PRODUCER_FIELDS.get(name, name))
            for name in ProducerSettings.model_fields
            if name != "default_component"
        }
        return ProducerSettings.model_validate({**values, "default_component": PRODUCER_COMPONENT})

    @property
    def db_pool(self) -> PoolSettings:
        """The pool arguments of ``execlog_db.create_engine``: min size kept, the rest overflow."""
        return PoolSettings(
            pool_size=self.db_pool_min_size,
            max_overflow=self.db_pool_max_size - self.db_pool_min_size,
            pool_timeout=self.db_pool_timeout,
            pool_pre_ping=self.db_pool_pre_ping,
        )

    @property
    def async_database_url(self) -> str:
        """DATABASE_URL in its ``postgresql+asyncpg://`` form."""
        return to_async_url(self.database_url)

    def redacted_database_url(self) -> str:
        """DATABASE_URL with the password masked (for logs)."""
        return redact(self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings read once from the environment."""
    return Settings()
