"""Settings from environment variables (names, defaults, parsing, validation)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError
from service_testkit import read_settings

from execlog_api.settings import PRODUCER_FIELDS, Settings
from execlog_db.engine import PoolSettings
from execlog_producer import (
    DEFAULT_REDACT_KEYS,
    ProducerSettings,
    broker_options,
    chain_from_settings,
    logger_config,
)
from execlog_producer.delivery.celery_sender import producer_app

ENV_NAMES = (
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_DB",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "REDIS_SENTINEL_MASTER",
    "REDIS_SENTINEL_PASSWORD",
    "BROKER_KEY_PREFIX",
    "DATABASE_URL",
    "LOG_WORKER_URL",
    "LOG_API_TOKEN",
    "LOG_BUFFER_SIZE",
    "LOG_FLUSH_INTERVAL",
    "LOG_MAX_BUFFERED_RECORDS",
    "LOG_SPOOL_DIR",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "LOG_REDACT_KEYS",
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_TIMEOUT",
    "DB_POOL_PRE_PING",
    "STEP_RETRY_BACKOFF_BASE",
    "STEP_RETRY_BACKOFF_MAX",
    *Settings.RENAMED,
    "HTTP_STEP_ALLOWED_HOSTS",
    "SERVICE_NAME",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_api_settings_defaults() -> None:
    s = Settings()
    assert s.broker_url == "redis://127.0.0.1:6379/0"
    assert s.log_buffer_size == 50
    assert s.log_flush_interval == 2.0
    assert s.log_redact_keys == DEFAULT_REDACT_KEYS
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert s.async_database_url.startswith("postgresql+asyncpg://")
    assert s.log_format == "json"
    assert s.db_pool == PoolSettings(
        pool_size=5, max_overflow=10, pool_timeout=30.0, pool_pre_ping=True
    )
    assert (s.step_retry_backoff_base, s.step_retry_backoff_max) == (0.5, 30.0)
    assert s.deprecated_settings == ()


def test_api_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "REDIS_HOST": "redis.internal",
        "REDIS_PORT": "6380",
        "REDIS_DB": "2",
        "REDIS_PASSWORD": "p@ss/word",
        "BROKER_KEY_PREFIX": "t1:",
        "DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/api",
        "LOG_WORKER_URL": "http://worker:8001/",
        "LOG_API_TOKEN": "s3cret",
        "LOG_BUFFER_SIZE": "100",
        "LOG_FLUSH_INTERVAL": "0.5",
        "LOG_MAX_BUFFERED_RECORDS": "777",
        "LOG_SPOOL_DIR": str(tmp_path),
        "LOG_FORMAT": "CONSOLE",
        "LOG_LEVEL": "debug",
        "LOG_REDACT_KEYS": "password, ssn ,card_number",
        "DB_POOL_MIN_SIZE": "9",
        "DB_POOL_MAX_SIZE": "12",
        "DB_POOL_TIMEOUT": "3",
        "DB_POOL_PRE_PING": "false",
        "STEP_RETRY_BACKOFF_BASE": "0.1",
        "STEP_RETRY_BACKOFF_MAX": "2",
        "HTTP_STEP_ALLOWED_HOSTS": "127.0.0.1,api.example.com",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        s = Settings()
    assert s.deprecated_settings == ()
    assert s.broker_url == "redis://:p%40ss%2Fword@redis.internal:6380/2"
    assert s.broker_key_prefix == "t1:"
    assert s.async_database_url == "postgresql+asyncpg://u:p@db:5432/api"
    assert s.log_worker_url == "http://worker:8001"
    assert s.log_api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.log_format == "console"
    assert s.log_level == "DEBUG"
    assert s.log_redact_keys == ("password", "ssn", "card_number")
    assert s.db_pool == PoolSettings(
        pool_size=9, max_overflow=3, pool_timeout=3.0, pool_pre_ping=False
    )
    assert (s.step_retry_backoff_base, s.step_retry_backoff_max) == (0.1, 2.0)
    assert s.http_step_allowed_hosts == ("127.0.0.1", "api.example.com")
    config = logger_config(s.producer_settings())
    assert (config.buffer_size, config.flush_interval, config.max_records) == (100, 0.5, 777)
    monkeypatch.setenv("REDIS_URL", "redis://other:1/3")
    assert Settings().broker_url == "redis://other:1/3"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "http://x"),
        ("LOG_BUFFER_SIZE", "0"),
        ("LOG_FLUSH_INTERVAL", "-1"),
        ("LOG_FORMAT", "xml"),
        ("LOG_WORKER_URL", "worker:8001"),
        ("REDIS_URL", "sentinel://s1:26379/0"),
        ("DB_POOL_MIN_SIZE", "0"),
        ("DB_POOL_MIN_SIZE", "16"),
        ("DB_POOL__MAX_OVERFLOW", "-1"),
        ("DB_POOL__MAX_OVERFLOW", "ten"),
    ],
)
def test_api_settings_reject_bad_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def read_deprecated(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[Settings, list[str]]:
    """Settings from ``env`` and the deprecation warnings their construction emitted."""
    return read_settings(Settings, monkeypatch, **env)


def test_api_old_pool_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read_deprecated(
        monkeypatch,
        DB_POOL__POOL_SIZE="8",
        DB_POOL__MAX_OVERFLOW="4",
        DB_POOL__POOL_TIMEOUT="3",
        DB_POOL__POOL_PRE_PING="false",
    )
    assert s.db_pool == PoolSettings(
        pool_size=8, max_overflow=4, pool_timeout=3.0, pool_pre_ping=False
    )
    assert (s.db_pool_min_size, s.db_pool_max_size) == (8, 12)
    assert caught == [
        "DB_POOL__POOL_SIZE is deprecated: use DB_POOL_MIN_SIZE",
        "DB_POOL__MAX_OVERFLOW is deprecated: use DB_POOL_MAX_SIZE "
        "(set it to DB_POOL_MIN_SIZE + DB_POOL__MAX_OVERFLOW)",
        "DB_POOL__POOL_TIMEOUT is deprecated: use DB_POOL_TIMEOUT",
        "DB_POOL__POOL_PRE_PING is deprecated: use DB_POOL_PRE_PING",
    ]
    assert [d.old for d in s.deprecated_settings] == [
        "DB_POOL__POOL_SIZE",
        "DB_POOL__MAX_OVERFLOW",
        "DB_POOL__POOL_TIMEOUT",
        "DB_POOL__POOL_PRE_PING",
    ]


@pytest.mark.parametrize(
    ("env", "pool_size", "max_overflow"),
    [
        pytest.param({"DB_POOL__POOL_SIZE": "20"}, 20, 10, id="old-size-keeps-old-overflow"),
        pytest.param({"DB_POOL__MAX_OVERFLOW": "0"}, 5, 0, id="old-overflow"),
        pytest.param(
            {"DB_POOL_MIN_SIZE": "8", "DB_POOL__MAX_OVERFLOW": "2"}, 8, 2, id="new-min-old-overflow"
        ),
        pytest.param(
            {"DB_POOL__POOL_SIZE": "8", "DB_POOL_MAX_SIZE": "9"}, 8, 1, id="old-size-new-max"
        ),
        pytest.param({"DB_POOL_MIN_SIZE": "8"}, 8, 7, id="new-min"),
    ],
)
def test_api_pool_sizes_from_old_and_new_names(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], pool_size: int, max_overflow: int
) -> None:
    s, _ = read_deprecated(monkeypatch, **env)
    assert (s.db_pool.pool_size, s.db_pool.max_overflow) == (pool_size, max_overflow)


def test_api_old_backoff_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read_deprecated(monkeypatch, RETRY_BACKOFF_BASE="0.1", RETRY_BACKOFF_MAX="2")
    assert (s.step_retry_backoff_base, s.step_retry_backoff_max) == (0.1, 2.0)
    assert caught == [
        "RETRY_BACKOFF_BASE is deprecated: use STEP_RETRY_BACKOFF_BASE",
        "RETRY_BACKOFF_MAX is deprecated: use STEP_RETRY_BACKOFF_MAX",
    ]


def test_api_new_name_wins_over_old(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read_deprecated(
        monkeypatch,
        RETRY_BACKOFF_BASE="0.1",
        STEP_RETRY_BACKOFF_BASE="0.7",
        DB_POOL__MAX_OVERFLOW="1",
        DB_POOL_MAX_SIZE="30",
    )
    assert (s.step_retry_backoff_base, s.db_pool_max_size) == (0.7, 30)
    assert caught == [
        "DB_POOL__MAX_OVERFLOW is deprecated and ignored: DB_POOL_MAX_SIZE is set; "
        "remove DB_POOL__MAX_OVERFLOW",
        "RETRY_BACKOFF_BASE is deprecated and ignored: STEP_RETRY_BACKOFF_BASE is set; "
        "remove RETRY_BACKOFF_BASE",
    ]


def test_api_blank_variables_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    blank = ("DB_POOL_MIN_SIZE", "DB_POOL__POOL_SIZE", "STEP_RETRY_BACKOFF_BASE", "LOG_BUFFER_SIZE")
    s, caught = read_deprecated(
        monkeypatch, SERVICE_NAME="", LOG_WORKER_URL="", **dict.fromkeys(blank, "")
    )
    assert (s.service_name, s.log_worker_url) == ("execlog-api", "http://127.0.0.1:8001")
    assert (s.db_pool_min_size, s.step_retry_backoff_base, s.log_buffer_size) == (5, 0.5, 50)
    assert caught == []


def test_api_chain_from_settings_without_worker_url(tmp_path: Path) -> None:
    chain = chain_from_settings(
        Settings(log_worker_url="", log_spool_dir=tmp_path).producer_settings()
    )
    try:
        assert chain.http is None
        assert chain.spool.directory == tmp_path
    finally:
        chain.close()


SENTINEL_URL = "sentinel://:p%40ss@s1:26379/0;sentinel://:p%40ss@s2:26379/0;sentinel://s3:26380/0"


def test_api_sentinel_settings_reach_the_celery_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", SENTINEL_URL)
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "execlog")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sentinel-secret")
    monkeypatch.setenv("BROKER_KEY_PREFIX", "t1:")
    s = Settings()
    assert s.broker_url == SENTINEL_URL
    assert s.redis_sentinel_master == "execlog"
    assert "sentinel-secret" not in repr(s)
    options = broker_options(s.producer_settings())
    assert "sentinel-secret" not in repr(options)
    app = producer_app(options)
    try:
        assert app.conf.broker_url == SENTINEL_URL
        transport_options = app.conf.broker_transport_options
        assert transport_options["master_name"] == "execlog"
        assert transport_options["sentinel_kwargs"] == {"password": "sentinel-secret"}
        assert transport_options["global_keyprefix"] == "t1:"
        connection = app.connection_for_write()
        try:
            assert type(connection.transport).__name__ == "SentinelTransport"
            sentinels = [urlsplit(url) for url in connection.alt]
            assert [(u.hostname, u.port) for u in sentinels] == [
                ("s1", 26379),
                ("s2", 26379),
                ("s3", 26380),
            ]
            assert connection.transport_options["master_name"] == "execlog"
        finally:
            connection.release()
    finally:
        app.close()


def test_api_sentinel_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "")
    s = Settings()
    assert (s.redis_sentinel_master, s.redis_sentinel_password) == (None, None)
    assert "master_name" not in transport_options_of(s)
    assert "sentinel_kwargs" not in transport_options_of(s)
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "execlog")
    assert transport_options_of(Settings())["master_name"] == "execlog"
    assert "sentinel_kwargs" not in transport_options_of(Settings())


def transport_options_of(settings: Settings) -> dict[str, Any]:
    app = producer_app(broker_options(settings.producer_settings()))
    try:
        return dict(app.conf.broker_transport_options)
    finally:
        app.close()


def test_api_producer_settings_keep_the_api_names_and_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The API's LOG_*/BROKER_* variables configure the producer; EXECLOG_* ones are not read."""
    defaults = Settings().producer_settings()
    library = ProducerSettings.model_validate({})
    for name in ProducerSettings.model_fields:
        if name not in ("service_name", "default_component"):
            assert getattr(defaults, name) == getattr(library, name), name
    assert (defaults.service_name, defaults.default_component) == ("execlog-api", "api")
    for field in PRODUCER_FIELDS.values():
        assert field in Settings.model_fields, field

    monkeypatch.setenv("LOG_BUFFER_SIZE", "7")
    monkeypatch.setenv("LOG_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_PUBLISH_PROCESS", "false")
    monkeypatch.setenv("BROKER_DOWN_BACKOFF", "3")
    monkeypatch.setenv("REDIS_URL", "redis://api-broker:6379/1")
    monkeypatch.setenv("EXECLOG_BUFFER_SIZE", "9")
    monkeypatch.setenv("EXECLOG_REDIS_URL", "redis://elsewhere:6379/0")
    producer = Settings().producer_settings()
    assert (producer.buffer_size, producer.spool_dir, producer.publish_process) == (
        7,
        tmp_path,
        False,
    )
    assert producer.broker_down_backoff == 3.0
    assert producer.broker_url == "redis://api-broker:6379/1"
