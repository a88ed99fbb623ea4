"""Payload hygiene: redaction of sensitive keys, predictable conversion, contract truncation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import orjson
import pytest
import uuid_utils
from api_testkit import FakeSender
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from execlog_api.logger.execution_logger import ExecutionLogger
from execlog_api.logger.hygiene import REDACTED, Redactor
from execlog_api.settings import DEFAULT_REDACT_KEYS
from execlog_schema.codec import decode_batch, encode_batch
from execlog_schema.limits import MAX_MESSAGE_CHARS, MAX_PAYLOAD_BYTES, PAYLOAD_TRUNCATED_KEY

MakeLogger = Callable[..., tuple[ExecutionLogger, FakeSender]]
EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-000000000002")


@pytest.fixture()
def redactor() -> Redactor:
    return Redactor(DEFAULT_REDACT_KEYS)


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
def test_api_redacts_sensitive_keys(redactor: Redactor, key: str) -> None:
    assert redactor.clean({key: "hunter2"}) == {key: REDACTED}


@pytest.mark.parametrize(
    "key", ["max_tokens", "tokenizer", "user", "message", "keyboard", "passage", "secretary"]
)
def test_api_keeps_ordinary_keys(redactor: Redactor, key: str) -> None:
    assert redactor.clean({key: "v"}) == {key: "v"}


def test_api_redacts_at_any_depth_and_whatever_the_value(redactor: Redactor) -> None:
    payload = {
        "request": {
            "headers": [{"Authorization": "Bearer abc"}, {"accept": "json"}],
            "auth": {"token": {"nested": "x"}, "user": "ada"},
        },
        "password": 12345,
    }
    assert redactor.clean(payload) == {
        "request": {
            "headers": [{"Authorization": REDACTED}, {"accept": "json"}],
            "auth": {"token": REDACTED, "user": "ada"},
        },
        "password": REDACTED,
    }


def test_api_redact_keys_are_configurable() -> None:
    redactor = Redactor(["ssn", "card-number"])
    assert redactor.clean({"ssn": 1, "card_number": 2, "password": 3}) == {
        "ssn": REDACTED,
        "card_number": REDACTED,
        "password": 3,
    }


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model(BaseModel):
    when: dt.date
    secret: str


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


def test_api_converts_non_json_values_predictably(redactor: Redactor) -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    u7 = uuid_utils.uuid7()
    value: dict[Any, Any] = {
        "datetime": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "naive": dt.datetime(2024, 5, 1, 12, 30),
        "date": dt.date(2024, 5, 1),
        "time": dt.time(8, 0),
        "delta": dt.timedelta(minutes=1, milliseconds=500),
        "decimal": Decimal("1.10"),
        "uuid": u,
        "uuid7": u7,
        "bytes_text": "héllo".encode(),
        "bytes_binary": b"\xff\x00\x01",
        "set": {3, 1, 2},
        "tuple": (1, "a"),
        "enum": Color.RED,
        "dataclass": Point(1, 2),
        "model": Model(when=dt.date(2024, 1, 2), secret="s"),
        "path": PurePosixPath("/srv/x"),
        "error": ValueError("bad"),
        "object": Opaque(),
        "nan": float("nan"),
        "inf": float("inf"),
        1: "int key",
        Color.RED: "enum key",
    }
    cleaned = redactor.clean(value)
    assert cleaned == {
        "datetime": "2024-05-01T12:30:00+00:00",
        "naive": "2024-05-01T12:30:00",
        "date": "2024-05-01",
        "time": "08:00:00",
        "delta": 60.5,
        "decimal": "1.10",
        "uuid": "12345678-1234-5678-1234-567812345678",
        "uuid7": str(u7),
        "bytes_text": "héllo",
        "bytes_binary": "base64:/wAB",
        "set": [1, 2, 3],
        "tuple": [1, "a"],
        "enum": "red",
        "dataclass": {"x": 1, "y": 2},
        "model": {"when": "2024-01-02", "secret": REDACTED},
        "path": "/srv/x",
        "error": {"type": "ValueError", "message": "bad"},
        "object": "<Opaque> Opaque()",
        "nan": "NaN",
        "inf": "Infinity",
        "1": "int key",
        "red": "enum key",
    }
    orjson.dumps(cleaned)


def test_api_cycles_and_depth_are_bounded(redactor: Redactor) -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    assert redactor.clean(loop) == {"a": 1, "self": "[cycle]"}
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(100):
        cursor["d"] = {}
        cursor = cursor["d"]
    text = orjson.dumps(redactor.clean(deep)).decode()
    assert "[max depth]" in text


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
def test_api_plain_payload_shortcut_gives_what_the_full_clean_gives(
    payload: dict[str, Any],
) -> None:
    redactor = Redactor(DEFAULT_REDACT_KEYS)
    full = redactor.clean(payload)
    expected = full if isinstance(full, dict) else {"value": full}
    assert repr(redactor.clean_payload(payload)) == repr(expected)  # repr: NaN == NaN


def test_api_logged_payload_is_redacted_and_batch_valid(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    record = logger.log(
        EXECUTION,
        "warning",
        "login\x00 attempt",
        payload={"user": "ada", "password": "hunter2", "at": dt.datetime(2024, 1, 1)},
        error=RuntimeError("boom"),
    )
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


def test_api_oversize_message_and_payload_are_cut_by_contract(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    record = logger.log(
        EXECUTION, "info", "x" * (MAX_MESSAGE_CHARS + 10), payload={"blob": "y" * MAX_PAYLOAD_BYTES}
    )
    assert len(record.message) == MAX_MESSAGE_CHARS
    assert "truncated" in record.message
    assert record.payload[PAYLOAD_TRUNCATED_KEY] is True
    logger.flush_sync(timeout=5)
    decode_batch(encode_batch(sender.batches[0]))
