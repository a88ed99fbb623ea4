"""ProducerSettings: EXECLOG_-prefixed variables, defaults, and a logger built from them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from execlog_producer import (
    ProducerSettings,
    broker_options,
    chain_from_settings,
    logger_config,
    logger_from_settings,
)
from execlog_producer.redaction import DEFAULT_REDACT_KEYS
from execlog_schema.codec import decode_batch


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ProducerSettings.model_fields:
        monkeypatch.delenv(f"EXECLOG_{name.upper()}", raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_producer_settings_defaults() -> None:
    s = ProducerSettings()
    assert (s.buffer_size, s.flush_interval, s.replay_interval) == (50, 2.0, 5.0)
    assert (s.max_buffered_records, s.max_buffered_bytes) == (10_000, 32 * 1024 * 1024)
    assert s.spool_dir == Path("/var/tmp/execlog-api-spool")  # noqa: S108
    assert (s.http_fallback, s.publish_process) == (True, True)
    assert s.broker_url == "redis://127.0.0.1:6379/0"
    assert (s.broker_connect_timeout, s.broker_socket_timeout) == (1.0, 2.0)
    assert s.redact_keys == DEFAULT_REDACT_KEYS
    assert (s.service_name, s.default_component) == ("execlog-producer", "app")


def test_producer_settings_read_the_execlog_prefix_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EXECLOG_BUFFER_SIZE", "7")
    monkeypatch.setenv("EXECLOG_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("EXECLOG_REDIS_URL", "redis://broker:6380/2")
    monkeypatch.setenv("EXECLOG_BROKER_KEY_PREFIX", "p:")
    monkeypatch.setenv("EXECLOG_BROKER_PUBLISH_MAX_RETRIES", "5")
    monkeypatch.setenv("EXECLOG_REDACT_KEYS", "password, ssn")
    monkeypatch.setenv("EXECLOG_WORKER_URL", "http://worker:8001/")
    monkeypatch.setenv("EXECLOG_SERVICE_NAME", "billing")
    monkeypatch.setenv("EXECLOG_FLUSH_INTERVAL", "")
    monkeypatch.setenv("BUFFER_SIZE", "99")
    monkeypatch.setenv("REDIS_URL", "redis://unprefixed:6379/0")
    s = ProducerSettings()
    assert (s.buffer_size, s.spool_dir, s.flush_interval) == (7, tmp_path, 2.0)
    assert (s.broker_url, s.broker_key_prefix) == ("redis://broker:6380/2", "p:")
    assert s.redact_keys == ("password", "ssn")
    assert (s.worker_url, s.service_name) == ("http://worker:8001", "billing")
    options = broker_options(s)
    assert (options.url, options.key_prefix, options.max_retries) == (s.broker_url, "p:", 5)
    assert logger_config(s).buffer_size == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXECLOG_BUFFER_SIZE", "0"),
        ("EXECLOG_WORKER_URL", "worker:8001"),
        ("EXECLOG_REDIS_URL", "x"),
    ],
)
def test_producer_settings_reject_bad_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        ProducerSettings()


def test_producer_chain_without_http_fallback(tmp_path: Path) -> None:
    chain = chain_from_settings(
        ProducerSettings(http_fallback=False, publish_process=False, spool_dir=tmp_path)
    )
    try:
        assert chain.http is None
        assert chain.spool.directory == tmp_path
    finally:
        chain.close()


def test_producer_logger_from_settings_spools_when_the_broker_is_down(tmp_path: Path) -> None:
    """Broker on a closed port, no HTTP fallback: the record lands in the spool on close."""
    settings = ProducerSettings(
        redis_url="redis://127.0.0.1:9/0",
        broker_publish_max_retries=0,
        http_fallback=False,
        publish_process=False,
        spool_dir=tmp_path,
        flush_interval=0.05,
        service_name="spool-test",
    )
    logger = logger_from_settings(settings)
    execution = uuid.uuid4()
    record = logger.log(execution, "INFO", "hello", payload={"password": "x", "n": 1})
    asyncio.run(logger.flush(timeout=30))
    logger.close(timeout=10)
    lines = [line for path in tmp_path.glob("*.jsonl") for line in path.read_bytes().splitlines()]
    batches = [decode_batch(line) for line in lines]
    records = [r for b in batches for r in b.records]
    assert [r.id for r in records] == [record.id]
    assert records[0].payload == {"password": "[REDACTED]", "n": 1}
    assert records[0].component == "app"
    assert batches[0].producer.service == "spool-test"
    assert logger.metrics.dropped_total() == 0
