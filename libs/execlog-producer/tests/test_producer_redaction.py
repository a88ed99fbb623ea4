"""Payload redaction: the API's sensitive keys plugged into the schema's payload converter."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from producer_testkit import FakeSender
from pydantic import BaseModel

from execlog_producer.execution_logger import ExecutionLogger
from execlog_producer.redaction import DEFAULT_REDACT_KEYS, SensitiveKeys
from execlog_schema.codec import decode_batch, encode_batch
from execlog_schema.limits import MAX_MESSAGE_CHARS, MAX_PAYLOAD_BYTES, PAYLOAD_TRUNCATED_KEY
from execlog_schema.payload import REDACTED, PayloadConverter

MakeLogger = Callable[..., tuple[ExecutionLogger, FakeSender]]
EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-000000000002")


@pytest.fixture()
def converter() -> PayloadConverter:
    return PayloadConverter(SensitiveKeys(DEFAULT_REDACT_KEYS).__getitem__)


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "db_password",
        "token",
        "access_token",
        "accessToken",
        "refresh-token",
        "secret",
        "client_secret",
        "Authorization",
        "X-Api-Key",
        "api_key",
        "apiKey",
        "APIKEY",
        "private_key",
        "Set-Cookie",
    ],
)
def test_producer_redacts_sensitive_keys(converter: PayloadConverter, key: str) -> None:
    assert converter.to_json({key: "hunter2"}) == {key: REDACTED}


@pytest.mark.parametrize(
    "key", ["max_tokens", "tokenizer", "user", "message", "keyboard", "passage", "secretary"]
)
def test_producer_keeps_ordinary_keys(converter: PayloadConverter, key: str) -> None:
    assert converter.to_json({key: "v"}) == {key: "v"}


def test_producer_redacts_at_any_depth_and_whatever_the_value(converter: PayloadConverter) -> None:
    payload = {
        "request": {
            "headers": [{"Authorization": "Bearer abc"}, {"accept": "json"}],
            "auth": {"token": {"nested": "x"}, "user": "ada"},
        },
        "password": 12345,
    }
    assert converter.to_json(payload) == {
        "request": {
            "headers": [{"Authorization": REDACTED}, {"accept": "json"}],
            "auth": {"token": REDACTED, "user": "ada"},
        },
        "password": REDACTED,
    }


def test_producer_redact_keys_are_configurable() -> None:
    converter = PayloadConverter(SensitiveKeys(["ssn", "card-number"]).__getitem__)
    assert converter.to_json({"ssn": 1, "card_number": 2, "password": 3}) == {
        "ssn": REDACTED,
        "card_number": REDACTED,
        "password": 3,
    }


class Credentials(BaseModel):
    user: str
    password: str


def test_producer_redacts_inside_models_and_exceptions_stay_readable(
    converter: PayloadConverter,
) -> None:
    assert converter.to_json(
        {"login": Credentials(user="ada", password="p"), "error": ValueError("bad")}
    ) == {
        "login": {"user": "ada", "password": REDACTED},
        "error": {"type": "ValueError", "message": "bad"},
    }


_KEYS = st.sampled_from(["a", "name", "password", "apiKey", "items", "token_count"]) | st.text(
    max_size=8
)
_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=40,
)


@given(payload=st.dictionaries(_KEYS, _JSONISH, max_size=6))
def test_producer_plain_payload_shortcut_gives_what_the_full_clean_gives(
    payload: dict[str, Any],
) -> None:
    converter = PayloadConverter(SensitiveKeys(DEFAULT_REDACT_KEYS).__getitem__)
    assert repr(converter.payload(payload)) == repr(converter.to_json(payload))  # 1 != 1.0 != True


def test_producer_logged_payload_is_redacted_and_batch_valid(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    payload = {"user": "ada", "password": "hunter2", "at": dt.datetime(2024, 1, 1)}
    record = logger.log(
        EXECUTION, "warning", "login\x00 attempt", payload=payload, error=RuntimeError("boom")
    )
    assert "error" not in payload
    assert record.payload == {
        "user": "ada",
        "password": REDACTED,
        "at": "2024-01-01T00:00:00",
        "error": {"type": "RuntimeError", "message": "boom"},
    }
    assert "\x00" not in record.message
    logger.flush_sync(timeout=5)
    (batch,) = sender.batches
    decoded = decode_batch(encode_batch(batch))
    assert decoded.records[0].payload["password"] == REDACTED


def test_producer_oversize_message_and_payload_are_cut_by_contract(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    record = logger.log(
        EXECUTION, "info", "x" * (MAX_MESSAGE_CHARS + 10), payload={"blob": "y" * MAX_PAYLOAD_BYTES}
    )
    assert len(record.message) == MAX_MESSAGE_CHARS
    assert "truncated" in record.message
    assert record.payload[PAYLOAD_TRUNCATED_KEY] is True
    logger.flush_sync(timeout=5)
    decode_batch(encode_batch(sender.batches[0]))
