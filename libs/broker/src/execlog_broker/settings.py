"""``BrokerSettings``: the Redis broker fields a service's ``Settings`` inherits.

It reads the environment by the rules of every service (``execlog_service.settings``): a blank
variable is unset, renamed variables keep working under their old names.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from execlog_broker import transport, url
from execlog_service.settings import ServiceSettings


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


class BrokerSettings(ServiceSettings):
    """REDIS_* and BROKER_* settings, read from the upper-cased field names (no prefix).

    A service's ``Settings`` subclasses this and overrides a field to change its default
    (its position, and so the variable's, stays the one given here).
    """

    redis_host: str = "127.0.0.1"
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_db: int = Field(default=0, ge=0)
    redis_password: SecretStr | None = None
    redis_url: str | None = Field(
        default=None, description="Full broker URL; when unset it is built from REDIS_HOST/PORT/DB"
    )
    redis_sentinel_master: str | None = Field(
        default=None, description="Sentinel master set name (REDIS_URL=sentinel://...;...)"
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="password of the sentinels themselves, if they require one"
    )
    broker_key_prefix: str = Field(
        default="", description="kombu global_keyprefix (isolates queues, e.g. per test)"
    )
    broker_connect_timeout: float = Field(default=5.0, gt=0)
    broker_socket_timeout: float = Field(default=10.0, gt=0)

    @field_validator("redis_url", "redis_sentinel_master")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        return url.check_url(value)

    @field_validator("broker_key_prefix")
    @classmethod
    def _prefix_printable(cls, value: str) -> str:
        return url.check_key_prefix(value)

    @field_validator("redis_sentinel_password")
    @classmethod
    def _blank_password_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if _secret(value) else None

    @model_validator(mode="after")
    def _sentinel_needs_master(self) -> Self:
        url.check_sentinel_master(self.broker_url, self.redis_sentinel_master)
        return self

    @property
    def broker_url(self) -> str:
        """REDIS_URL, else ``redis://[:password@]REDIS_HOST:REDIS_PORT/REDIS_DB``."""
        if self.redis_url:
            return self.redis_url
        return url.build_url(
            self.redis_host, self.redis_port, self.redis_db, _secret(self.redis_password)
        )

    @property
    def broker_url_redacted(self) -> str:
        """Broker URL with the password masked, for logs."""
        return url.redact(self.broker_url)

    @property
    def sentinel_kwargs(self) -> dict[str, str] | None:
        """redis-py/kombu ``sentinel_kwargs`` (REDIS_SENTINEL_PASSWORD); None without one."""
        return transport.sentinel_kwargs(_secret(self.redis_sentinel_password))

    @property
    def broker_transport_options(self) -> dict[str, Any]:
        """Sentinel and key-prefix kombu transport options (see :func:`transport_options`)."""
        return transport.transport_options(
            key_prefix=self.broker_key_prefix,
            sentinel_master=self.redis_sentinel_master,
            sentinel_password=_secret(self.redis_sentinel_password),
        )
