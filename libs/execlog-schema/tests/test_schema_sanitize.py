"""The NUL / surrogate rule, JSON cleaning and message truncation."""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import orjson
import pytest

from execlog_schema.limits import DEPTH_MARKER, MAX_MESSAGE_CHARS, TRUNCATION_MARKER
from execlog_schema.sanitize import (
    REPLACEMENT_CHAR,
    clean_json,
    clean_text,
    cut_text,
    find_bad_text,
    has_bad_text,
    truncate_message,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("a\x00b", "a\ufffdb"),
        ("\x00\x00", "\ufffd\ufffd"),
        ("lone high \ud800 end", "lone high \ufffd end"),
        ("lone low \udc80", "lone low \ufffd"),
        ("pair \ud83d\ude00 joined", "pair 😀 joined"),
        ("reversed \ude00\ud83d", "reversed \ufffd\ufffd"),
        ("mixed \x00\ud800😀", "mixed \ufffd\ufffd😀"),
        ("", ""),
    ],
)
def test_clean_text_applies_the_rule(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected
    assert not has_bad_text(clean_text(raw))
    clean_text(raw).encode("utf-8")


def test_clean_text_returns_the_same_object_when_clean() -> None:
    text = "already clean ✓"
    assert clean_text(text) is text


def test_replacement_char_is_u_fffd() -> None:
    assert REPLACEMENT_CHAR == "\ufffd"


def test_truncate_message_keeps_short_text() -> None:
    text = "x" * MAX_MESSAGE_CHARS
    assert truncate_message(text) is text


def test_truncate_message_cuts_with_visible_marker() -> None:
    text = "y" * (MAX_MESSAGE_CHARS + 10)
    out = truncate_message(text)
    marker = TRUNCATION_MARKER.format(total=len(text))
    assert len(out) == MAX_MESSAGE_CHARS
    assert out.endswith(marker)
    assert out.startswith("y" * 100)


def test_truncate_message_with_tiny_limit_never_exceeds_it() -> None:
    assert len(truncate_message("z" * 50, limit=5)) == 5


def test_cut_text() -> None:
    assert cut_text("abcdef", 3) == "abc"
    assert cut_text("ab", 3) == "ab"


class _Color(enum.Enum):
    RED = "red"


class _Num(enum.IntEnum):
    ONE = 1


@dataclasses.dataclass
class _Point:
    x: int
    y: str


class _Weird:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def test_clean_json_converts_to_json_types() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    uid = UUID(int=1)
    out = clean_json(
        {
            "s\x00": "v\ud800",
            1: (1, 2),
            None: {3},
            2.5: b"bytes\xff",
            False: 0,
            _Color.RED: _Num.ONE,
            "when": when,
            "uid": uid,
            "dec": Decimal("1.10"),
            "nan": math.nan,
            "inf": -math.inf,
            "big": 2**70,
            "point": _Point(1, "a\x00"),
            "weird": _Weird(),
            "obj": object,
        }
    )
    assert isinstance(out, dict)
    assert out["s\ufffd"] == "v\ufffd"
    assert out["1"] == [1, 2]
    assert out["null"] == [3]
    assert out["2.5"] == "bytes\ufffd"
    assert out["false"] == 0
    assert out["red"] == 1
    assert not isinstance(out["red"], enum.Enum)
    assert out["when"] == "2025-01-02T03:04:05+00:00"
    assert out["uid"] == str(uid)
    assert out["dec"] == "1.10"
    assert out["nan"] is None
    assert out["inf"] is None
    assert out["big"] == str(2**70)
    assert out["point"] == {"x": 1, "y": "a\ufffd"}
    assert out["weird"] == "<unrepresentable _Weird>"
    assert isinstance(out["obj"], str)
    orjson.dumps(out)


def test_clean_json_cuts_deep_and_cyclic_values() -> None:
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    out = clean_json(cyclic, max_depth=3)
    assert out == {"self": {"self": {"self": DEPTH_MARKER}}}


def test_clean_json_pydantic_model() -> None:
    from pydantic import BaseModel

    class M(BaseModel):
        a: int
        when: datetime

    out = clean_json({"m": M(a=1, when=datetime(2025, 1, 1, tzinfo=UTC))})
    assert out == {"m": {"a": 1, "when": "2025-01-01T00:00:00Z"}}


def test_find_bad_text_reports_a_path() -> None:
    assert find_bad_text({"a": [1, {"b": "x\x00"}]}) == "a[1].b"
    assert find_bad_text({"ok": ["fine"]}) is None
    assert find_bad_text({"k\x00": 1}) == "<key 'k\\x00'>"
    assert find_bad_text({"a": {"k\ud800": 1}}) == "a.<key 'k\\ud800'>"
