"""The payload rules: conversion of any value, the redaction hook, cycles, depth and size."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import uuid
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import orjson
import pytest
import uuid_utils
from pydantic import BaseModel

from execlog_schema.limits import (
    DEPTH_MARKER,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    PAYLOAD_TRUNCATED_KEY,
)
from execlog_schema.payload import (
    CYCLE_MARKER,
    MAX_REPR_CHARS,
    REDACTED,
    PayloadConverter,
    clean_payload,
    to_json,
)


class Color(enum.Enum):
    RED = "red"


class Num(enum.IntEnum):
    ONE = 1


@dataclasses.dataclass
class Point:
    x: int
    y: str


class Model(BaseModel):
    when: dt.date
    secret: str


class Opaque:
    def __repr__(self) -> str:
        return "Opaque(\x00)"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


class Text(str):
    pass


def test_converts_every_kind_of_value_by_the_rules() -> None:
    u7 = uuid_utils.uuid7()
    value: dict[Any, Any] = {
        "datetime": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "naive": dt.datetime(2024, 5, 1, 12, 30),
        "date": dt.date(2024, 5, 1),
        "time": dt.time(8, 0),
        "delta": dt.timedelta(minutes=1, milliseconds=500),
        "decimal": Decimal("1.10"),
        "uuid": uuid.UUID(int=1),
        "uuid7": u7,
        "bytes_text": "héllo".encode(),
        "bytes_nul": b"a\x00b",
        "bytes_binary": b"\xff\x00\x01",
        "memoryview": memoryview(b"mv"),
        "set": {3, 1, 2},
        "frozenset": frozenset({"b", "a"}),
        "tuple": (1, "a"),
        "enum": Color.RED,
        "int_enum": Num.ONE,
        "str_subclass": Text("t\x00"),
        "dataclass": Point(1, "a\x00"),
        "model": Model(when=dt.date(2024, 1, 2), secret="s"),
        "path": PurePosixPath("/srv/x"),
        "error": ValueError("bad\ud800"),
        "object": Opaque(),
        "unprintable": Unprintable(),
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "big": 2**64,
        "small": -(2**63) - 1,
        "s\x00": "v\ud800",
        1: "int key",
        2.5: "float key",
        None: "none key",
        False: "bool key",
        Color.RED: "enum key",
    }
    cleaned = to_json(value)
    assert cleaned == {
        "datetime": "2024-05-01T12:30:00+00:00",
        "naive": "2024-05-01T12:30:00",
        "date": "2024-05-01",
        "time": "08:00:00",
        "delta": 60.5,
        "decimal": "1.10",
        "uuid": str(uuid.UUID(int=1)),
        "uuid7": str(u7),
        "bytes_text": "héllo",
        "bytes_nul": "a\ufffdb",
        "bytes_binary": "base64:/wAB",
        "memoryview": "mv",
        "set": [1, 2, 3],
        "frozenset": ["a", "b"],
        "tuple": [1, "a"],
        "enum": "red",
        "int_enum": 1,
        "str_subclass": "t\ufffd",
        "dataclass": {"x": 1, "y": "a\ufffd"},
        "model": {"when": "2024-01-02", "secret": "s"},
        "path": "/srv/x",
        "error": {"type": "ValueError", "message": "bad\ufffd"},
        "object": "<Opaque> Opaque(\ufffd)",
        "unprintable": "<Unprintable> (unprintable)",
        "nan": "NaN",
        "inf": "Infinity",
        "-inf": "-Infinity",
        "big": str(2**64),
        "small": str(-(2**63) - 1),
        "s\ufffd": "v\ufffd",
        "1": "int key",
        "2.5": "float key",
        "null": "none key",
        "false": "bool key",
        "red": "enum key",
    }
    assert cleaned["str_subclass"].__class__ is str
    assert cleaned["int_enum"].__class__ is int
    orjson.dumps(cleaned)


def test_long_descriptions_are_cut() -> None:
    assert to_json(["x" * 5000]) == ["x" * 5000]
    described = to_json(range(10**6))
    assert described == "<range> range(0, 1000000)"
    long_repr = to_json(type("Long", (), {"__repr__": lambda self: "y" * 5000})())
    assert isinstance(long_repr, str)
    assert len(long_repr) == MAX_REPR_CHARS
    assert long_repr.startswith("<Long> yyy")


def test_cycles_become_a_marker_and_depth_is_bounded() -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    loop["list"] = [loop]
    assert to_json(loop) == {"a": 1, "self": CYCLE_MARKER, "list": [CYCLE_MARKER]}
    shared = [1]
    assert to_json({"a": shared, "b": shared}) == {"a": [1], "b": [1]}

    deep: dict[str, Any] = {}
    node = deep
    for _ in range(MAX_PAYLOAD_DEPTH + 10):
        node["d"] = {}
        node = node["d"]
    out = to_json(deep)
    for _ in range(MAX_PAYLOAD_DEPTH):
        assert isinstance(out, dict)
        out = out["d"]
    assert out == DEPTH_MARKER
    assert PayloadConverter(max_depth=2).to_json([[[1]], 2, [3]]) == [[DEPTH_MARKER], 2, [3]]


def test_redaction_hook_replaces_values_of_sensitive_keys_at_any_depth() -> None:
    converter = PayloadConverter(lambda key: key in {"secret", "password"})
    payload = {
        "model": Model(when=dt.date(2024, 1, 2), secret="s"),
        "list": [{"password": {"nested": 1}}, {"ok": 1}],
        "point": Point(1, "a"),
        "password": math.nan,
    }
    assert converter.to_json(payload) == {
        "model": {"when": "2024-01-02", "secret": REDACTED},
        "list": [{"password": REDACTED}, {"ok": 1}],
        "point": {"x": 1, "y": "a"},
        "password": REDACTED,
    }
    assert converter.payload({"password": "p", "n": 1}) == {"password": REDACTED, "n": 1}
    assert converter.payload({"secret": "s"}) == {"secret": REDACTED}


def test_the_hook_sees_keys_as_they_are_output() -> None:
    seen: list[str] = []

    def redact(key: str) -> bool:
        seen.append(key)
        return False

    PayloadConverter(redact).to_json({Color.RED: 1, "k\x00": 2})
    assert seen == ["red", "k\ufffd"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, {}),
        ({}, {}),
        ([1, 2], {"value": [1, 2]}),
        ("text", {"value": "text"}),
        (Point(1, "a"), {"x": 1, "y": "a"}),
        ({"n": math.nan, "s": {2, 1}}, {"n": "NaN", "s": [1, 2]}),
        ({"t": "a\x00"}, {"t": "a\ufffd"}),
        ({"t": "\\u0000"}, {"t": "\\u0000"}),
        ({"t": "\ud83d\ude00"}, {"t": "😀"}),
        ({"big": 2**80}, {"big": str(2**80)}),
    ],
)
def test_payload_is_an_object(payload: object, expected: dict[str, Any]) -> None:
    assert clean_payload(payload) == expected


def test_payload_is_a_copy_within_the_size_limit() -> None:
    plain: dict[str, Any] = {"a": 1, "b": [1.5, "x", None, True], "c": {"d": {"e": "f"}}}
    copied = clean_payload(plain)
    assert copied == plain
    assert copied is not plain
    assert copied["c"] is not plain["c"]

    big = clean_payload({"blob": "x" * MAX_PAYLOAD_BYTES})
    assert big[PAYLOAD_TRUNCATED_KEY] is True
    assert big["original_bytes"] == MAX_PAYLOAD_BYTES + 11
    assert big["preview"].startswith('{"blob":"xxx')
    converted_big = clean_payload({"blob": ["x" * MAX_PAYLOAD_BYTES], "s": {1}})
    assert converted_big[PAYLOAD_TRUNCATED_KEY] is True
