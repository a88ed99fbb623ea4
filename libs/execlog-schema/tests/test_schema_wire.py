"""Wire constants and the orjson-based kombu ``json`` codec."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from kombu import serialization

from execlog_schema import wire


def test_wire_constants() -> None:
    assert wire.QUEUE_NAME == "logs"
    assert wire.TASK_NAME == "execlog.batch_write_logs"
    assert wire.CONTENT_TYPE == "application/json"


def test_register_is_idempotent_and_replaces_json() -> None:
    wire.register_kombu_json()
    wire.register_kombu_json()
    codec = serialization.registry._encoders["json"]
    assert codec.content_type == "application/json"
    assert codec.content_encoding == "utf-8"
    assert codec.encoder is wire.orjson_dumps
    assert serialization.registry._decoders["application/json"] is wire.orjson_loads


def test_round_trip_through_kombu() -> None:
    wire.register_kombu_json()
    dumps: Callable[..., tuple[str, str, str]] = serialization.dumps
    loads: Callable[..., Any] = serialization.loads
    body: tuple[Any, ...] = (
        [{"a": 1, "when": datetime(2025, 1, 1, tzinfo=UTC), "id": UUID(int=5)}],
        {},
        {},
    )
    content_type, encoding, data = dumps(body, serializer="json")
    assert content_type == "application/json"
    assert isinstance(data, str)
    assert '"2025-01-01T00:00:00Z"' in data
    decoded = loads(data.encode(), content_type, encoding, accept={"application/json"})
    assert decoded == [
        [{"a": 1, "when": "2025-01-01T00:00:00Z", "id": "00000000-0000-0000-0000-000000000005"}],
        {},
        {},
    ]


def test_types_orjson_cannot_encode_fall_back_to_kombu_json() -> None:
    text = wire.orjson_dumps({"d": Decimal("1.5")})
    assert wire.orjson_loads(text) == {"d": Decimal("1.5")}


def test_payload_that_looks_kombu_tagged_still_decodes() -> None:
    data = {"payload": {"__type__": "not-a-kombu-type", "__value__": 1}}
    assert wire.orjson_loads(wire.orjson_dumps(data)) == data
    assert wire.orjson_loads(wire.orjson_dumps(data).encode()) == data


def test_invalid_json_still_raises() -> None:
    with pytest.raises(ValueError, match="Expecting value"):
        wire.orjson_loads(b"nope")


def test_lone_surrogate_escape_is_decoded_not_dropped() -> None:
    assert wire.orjson_loads(b'{"m": "a\\ud800"}') == {"m": "a\ud800"}
    assert wire.orjson_loads(memoryview(b'{"m": 1}')) == {"m": 1}
