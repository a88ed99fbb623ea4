"""The NUL / surrogate rule and message truncation."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from execlog_schema.limits import DEPTH_MARKER, MAX_MESSAGE_CHARS, TRUNCATION_MARKER
from execlog_schema.payload import to_json
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


def test_clean_json_is_the_payload_conversion() -> None:
    value = {"n": math.nan, "when": datetime(2025, 1, 1, tzinfo=UTC), 1: b"\xff"}
    assert clean_json(value) == to_json(value)
    assert clean_json([[[1]]], max_depth=2) == [[DEPTH_MARKER]]


def test_find_bad_text_reports_a_path() -> None:
    assert find_bad_text({"a": [1, {"b": "x\x00"}]}) == "a[1].b"
    assert find_bad_text({"ok": ["fine"]}) is None
    assert find_bad_text({"k\x00": 1}) == "<key 'k\\x00'>"
    assert find_bad_text({"a": {"k\ud800": 1}}) == "a.<key 'k\\ud800'>"
