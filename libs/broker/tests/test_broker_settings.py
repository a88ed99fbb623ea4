"""BrokerSettings from environment variables, and a service subclass overriding defaults."""

from typing import TypeVar

import pytest
from pydantic import Field, ValidationError

from execlog_broker.settings import BrokerSettings
from execlog_broker.transport import transport_options

FIELDS = [
    "redis_host",
    "redis_port",
    "redis_db",
    "redis_password",
    "redis_url",
    "redis_sentinel_master",
    "redis_sentinel_password",
    "broker_key_prefix",
    "broker_connect_timeout",
    "broker_socket_timeout",
]
SENTINEL_URL = "sentinel://:p%40ss@s1:26379/0;sentinel://s2:26380/0"

S = TypeVar("S", bound=BrokerSettings)


class ServiceSettings(BrokerSettings):
    """What a service does: own fields after the inherited ones, a default overridden."""

    service_name: str = "svc"
    broker_connect_timeout: float = Field(default=1.0, gt=0)


def read(monkeypatch: pytest.MonkeyPatch, cls: type[S], **env: str) -> S:
    """``cls`` read from exactly ``env`` (the test process's broker variables removed)."""
    with monkeypatch.context() as patch:
        for name in FIELDS:
            patch.delenv(name.upper(), raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        return cls()


def test_broker_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = read(monkeypatch, BrokerSettings)
    assert s.broker_url == s.broker_url_redacted == "redis://127.0.0.1:6379/0"
    assert s.broker_key_prefix == ""
    assert s.redis_sentinel_master is None
    assert s.redis_sentinel_password is None
    assert (s.broker_connect_timeout, s.broker_socket_timeout) == (5.0, 10.0)
    assert s.sentinel_kwargs is None
    assert s.broker_transport_options == transport_options()


def test_broker_settings_url_from_parts_or_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = {"REDIS_HOST": "r.internal", "REDIS_PORT": "6380", "REDIS_DB": "2"}
    s = read(
        monkeypatch, BrokerSettings, REDIS_PASSWORD="p@ss/word", BROKER_KEY_PREFIX="t1:", **parts
    )
    assert s.broker_url == "redis://:p%40ss%2Fword@r.internal:6380/2"
    assert "p%40ss" not in s.broker_url_redacted
    assert "p@ss" not in repr(s)
    assert s.broker_transport_options == transport_options(key_prefix="t1:")
    whole = read(monkeypatch, BrokerSettings, REDIS_URL="redis://other:1/3", **parts)
    assert whole.broker_url == "redis://other:1/3"


def test_broker_settings_sentinel(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="sentinel:// REDIS_URL needs REDIS_SENTINEL_MASTER"):
        read(monkeypatch, BrokerSettings, REDIS_URL=SENTINEL_URL)
    s = read(
        monkeypatch,
        BrokerSettings,
        REDIS_URL=SENTINEL_URL,
        REDIS_SENTINEL_MASTER="execlog",
        REDIS_SENTINEL_PASSWORD="sentinel-secret",
    )
    assert s.broker_url == SENTINEL_URL
    assert "sentinel-secret" not in repr(s)
    assert s.sentinel_kwargs == {"password": "sentinel-secret"}
    assert s.broker_transport_options == {
        "body_encoding": "utf-8",
        "master_name": "execlog",
        "sentinel_kwargs": {"password": "sentinel-secret"},
    }


def test_broker_settings_blank_values_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    blank = {"REDIS_URL": "", "REDIS_SENTINEL_MASTER": "", "REDIS_SENTINEL_PASSWORD": ""}
    s = read(monkeypatch, BrokerSettings, **blank)
    assert (s.redis_url, s.redis_sentinel_master, s.redis_sentinel_password) == (None, None, None)
    assert s.broker_url == "redis://127.0.0.1:6379/0"


def test_broker_settings_subclass_keeps_names_and_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert list(ServiceSettings.model_fields) == [*FIELDS, "service_name"]
    assert read(monkeypatch, ServiceSettings).broker_connect_timeout == 1.0
    assert (
        read(monkeypatch, ServiceSettings, BROKER_CONNECT_TIMEOUT="3").broker_connect_timeout == 3
    )
    with pytest.raises(ValidationError):
        read(monkeypatch, ServiceSettings, BROKER_CONNECT_TIMEOUT="0")


@pytest.mark.parametrize("cls", [BrokerSettings, ServiceSettings])
def test_broker_settings_checks_apply_to_every_service(
    monkeypatch: pytest.MonkeyPatch, cls: type[BrokerSettings]
) -> None:
    with pytest.raises(ValidationError, match="REDIS_URL must start with"):
        read(monkeypatch, cls, REDIS_URL="http://x")
    with pytest.raises(ValidationError, match="BROKER_KEY_PREFIX must not contain whitespace"):
        read(monkeypatch, cls, BROKER_KEY_PREFIX="a b")
    assert read(monkeypatch, cls, REDIS_URL="rediss://h:6380/0").broker_url == "rediss://h:6380/0"
