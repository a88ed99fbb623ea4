"""Text and JSON sanitizing shared by producer and consumer.

The rule (applied by the producer, checked by the consumer):

* U+0000 (NUL) is replaced by U+FFFD: PostgreSQL rejects NUL in ``text`` and ``jsonb``.
* Surrogate code points (U+D800..U+DFFF) cannot be encoded as UTF-8. Two of them that form a
  valid high+low pair are joined into the character they encode; every other (lone) surrogate
  is replaced by U+FFFD.
* Nothing else is changed.

``clean_text`` applies the rule to a string, ``clean_json`` to every string and key of a
JSON-like value (and turns non-JSON values into JSON ones), ``truncate_message`` cuts a message
to ``MAX_MESSAGE_CHARS`` with a visible marker. ``find_bad_text`` is the consumer-side check.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Final
from uuid import UUID

from execlog_schema.limits import (
    DEPTH_MARKER,
    MAX_MESSAGE_CHARS,
    MAX_PAYLOAD_DEPTH,
    TRUNCATION_MARKER,
)

REPLACEMENT_CHAR: Final = "\ufffd"

_BAD_TEXT: Final = re.compile("[\x00\ud800-\udfff]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def has_bad_text(text: str) -> bool:
    """True when ``text`` holds a NUL or a surrogate code point (what ``clean_text`` replaces)."""
    return _BAD_TEXT.search(text) is not None


def clean_text(text: str) -> str:
    """Apply the NUL / surrogate rule to ``text``; returns ``text`` itself when it is clean."""
    if _BAD_TEXT.search(text) is None:
        return text
    if _SURROGATE.search(text) is not None:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT_CHAR)


def truncate_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Cut ``message`` to at most ``limit`` chars, ending with ``TRUNCATION_MARKER`` when cut."""
    if len(message) <= limit:
        return message
    marker = TRUNCATION_MARKER.format(total=len(message))
    keep = max(limit - len(marker), 0)
    return (message[:keep] + marker)[:limit]


def cut_text(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` chars without a marker (identifiers, host names)."""
    return text if len(text) <= limit else text[:limit]


def _safe_str(obj: object) -> str:
    try:
        return clean_text(str(obj))
    except Exception:
        return f"<unrepresentable {type(obj).__name__}>"


def _clean_key(key: object) -> str:
    if isinstance(key, enum.Enum):
        return _clean_key(key.value)
    if isinstance(key, str):
        return clean_text(str.__str__(key))
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return _safe_str(key)


def _clean_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def clean_json(obj: object, *, max_depth: int = MAX_PAYLOAD_DEPTH) -> JSONValue:
    """Return a JSON-safe copy of ``obj`` that obeys the text rule; never raises.

    Conversions: mappings -> objects (keys turned into clean strings), lists/tuples/sets ->
    arrays, UUID/Decimal -> str, datetime/date/time -> ISO 8601 str, enums -> their value,
    bytes -> UTF-8 text (invalid bytes replaced), dataclasses and pydantic models -> objects,
    non-finite floats -> null (as orjson encodes them), ints beyond 64 bits -> decimal str,
    anything else -> ``str(obj)``. Values nested deeper than ``max_depth`` become
    ``DEPTH_MARKER``.
    """
    try:
        return _clean(obj, max_depth)
    except RecursionError:
        return DEPTH_MARKER


def _clean(obj: object, depth: int) -> JSONValue:
    tp = type(obj)
    if tp is str:
        return clean_text(obj)  # type: ignore[arg-type]
    if obj is None or tp is bool:
        return obj  # type: ignore[return-value]
    if tp is int:
        return obj if _INT64_MIN <= obj <= _UINT64_MAX else str(obj)  # type: ignore[operator,return-value]
    if tp is float:
        return _clean_float(obj)  # type: ignore[arg-type]
    if depth <= 0:
        return DEPTH_MARKER
    if isinstance(obj, Mapping):
        return {_clean_key(k): _clean(v, depth - 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_clean(v, depth - 1) for v in obj]
    return _clean_other(obj, depth)


def _clean_other(obj: object, depth: int) -> JSONValue:
    if isinstance(obj, enum.Enum):
        return _clean(obj.value, depth)
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return _clean(int(obj), depth)
    if isinstance(obj, float):
        return _clean_float(float(obj))
    if isinstance(obj, str):
        return clean_text(str.__str__(obj))
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, UUID | Decimal):
        return str(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return clean_text(bytes(obj).decode("utf-8", "replace"))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _clean({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, depth)
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, type):
        try:
            return _clean(dump(mode="json"), depth)
        except Exception:
            return _safe_str(obj)
    return _safe_str(obj)


def find_bad_text(obj: object, path: str = "") -> str | None:
    """Path (``a.b[2]``) of the first string or key in ``obj`` with a NUL or surrogate, or None."""
    if isinstance(obj, str):
        return path if has_bad_text(obj) else None
    if isinstance(obj, dict):
        for key, value in obj.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_bad_text(key):
                return f"{path}.<key {key!r}>" if path else f"<key {key!r}>"
            found = find_bad_text(value, sub)
            if found is not None:
                return found
        return None
    if isinstance(obj, list):
        for index, value in enumerate(obj):
            found = find_bad_text(value, f"{path}[{index}]")
            if found is not None:
                return found
    return None
