"""Payload conversion: the one set of rules that turns any Python value into contract JSON.

``PayloadConverter.to_json(value)`` never raises; its rules:

- Text: every string and every key obeys the text rule (``sanitize.clean_text``: NUL and lone
  surrogates -> U+FFFD, a surrogate pair held as two code points joined); ``str`` subclasses
  become plain ``str``.
- ``None``, ``bool``, ``int`` -> themselves (``int`` subclasses -> ``int``); an integer outside
  -2**63 .. 2**64-1 (what orjson encodes) -> its decimal text.
- ``float`` -> itself; NaN / +inf / -inf -> ``"NaN"`` / ``"Infinity"`` / ``"-Infinity"`` (JSON
  has no such numbers; PostgreSQL's jsonb takes the text).
- Enums -> their value, converted.
- Mappings -> objects. Keys: ``str`` as is, enums by their value, ``None`` -> ``"null"``,
  ``True``/``False`` -> ``"true"``/``"false"``, anything else ``str(key)``. When the ``redact``
  hook says a key is sensitive, its value, whatever it is, becomes ``REDACTED``.
- Lists and tuples -> arrays; sets and frozensets -> arrays sorted by ``repr`` of the elements.
- Dataclass instances -> objects of their fields; pydantic models -> ``model_dump(mode="json")``,
  converted (so redaction reaches their fields).
- ``datetime`` / ``date`` / ``time`` -> ``isoformat()``; ``timedelta`` -> seconds (float);
  ``Decimal``, ``UUID`` (stdlib and uuid_utils) and ``Path`` -> their text.
- ``bytes`` / ``bytearray`` / ``memoryview`` -> the text when valid UTF-8, else
  ``"base64:<base64>"``.
- Exceptions -> ``{"type": <class name>, "message": str(exc)}``.
- Anything else -> ``"<ClassName> " + repr(value)``, cut to ``MAX_REPR_CHARS``; when ``str`` or
  ``repr`` raises, ``"<ClassName> (unprintable)"``.
- A container met again inside itself -> ``CYCLE_MARKER``; anything but a string, number, bool
  or null nested below ``MAX_PAYLOAD_DEPTH`` containers -> ``DEPTH_MARKER``.

``PayloadConverter.payload(value)`` makes a record payload: ``None`` -> ``{}``; the converted
value when it is an object, else ``{"value": <converted>}``; over ``MAX_PAYLOAD_BYTES`` encoded,
the truncation object (``{PAYLOAD_TRUNCATED_KEY: true, "original_bytes": n, "preview": ...}``).
A ``dict`` that is already plain JSON (``str`` keys, none sensitive; strings, ints, bools,
``None``, finite floats, dicts and lists within the depth) takes a shortcut to the same result:
one walk, then orjson's encoding, which checks the text rule and gives the size, and a copy
decoded from it.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final
from uuid import UUID

import orjson
import uuid_utils
from pydantic import BaseModel

from execlog_schema.limits import (
    DEPTH_MARKER,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    PAYLOAD_PREVIEW_CHARS,
    PAYLOAD_TRUNCATED_KEY,
)
from execlog_schema.sanitize import JSONValue, clean_text

REDACTED: Final = "[REDACTED]"
CYCLE_MARKER: Final = "[cycle]"
MAX_REPR_CHARS: Final = 1000

_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1


class PayloadConverter:
    """Converts values to contract JSON by the module's rules; ``redact(key)`` is the key hook
    (True: the value is replaced by ``REDACTED``), called with every key as it is output."""

    def __init__(
        self,
        redact: Callable[[str], bool] | None = None,
        *,
        max_depth: int = MAX_PAYLOAD_DEPTH,
    ) -> None:
        self._redact = redact
        self._max_depth = max_depth

    def to_json(self, value: object) -> JSONValue:
        """``value`` as JSON types (a new object; see the module doc)."""
        try:
            return self._convert(value, 0, set())
        except RecursionError:
            return DEPTH_MARKER

    def payload(self, value: object) -> dict[str, Any]:
        """A record payload made of ``value``: converted, an object, within
        ``MAX_PAYLOAD_BYTES``, never the caller's own object."""
        if value is None:
            return {}
        if value.__class__ is dict:
            if not value:
                return {}
            if self._plain(value, 0):
                try:
                    encoded = orjson.dumps(value)
                except TypeError:  # a lone surrogate, an integer beyond 64 bits
                    pass
                else:
                    if b"\\u0000" not in encoded:
                        if len(encoded) <= MAX_PAYLOAD_BYTES:
                            copied: dict[str, Any] = orjson.loads(encoded)
                            return copied
                        return _oversize(encoded)
        converted = self.to_json(value)
        data = converted if isinstance(converted, dict) else {"value": converted}
        if not data:
            return data
        encoded = orjson.dumps(data)
        return data if len(encoded) <= MAX_PAYLOAD_BYTES else _oversize(encoded)

    def _plain(self, value: object, depth: int) -> bool:
        """Whether ``to_json(value)`` would equal ``value``, the text rule aside."""
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return True
        if kind is float:
            return math.isfinite(value)  # type: ignore[arg-type]
        if depth >= self._max_depth:
            return False
        if kind is dict:
            redact = self._redact
            items: Iterable[object] = value.values()  # type: ignore[attr-defined]
            for key in value:  # type: ignore[attr-defined]
                if key.__class__ is not str or (redact is not None and redact(key)):
                    return False
        elif kind is list:
            items = value  # type: ignore[assignment]
        else:
            return False
        depth += 1
        for item in items:
            # Scalars inline: a call per list element was most of the walk.
            item_kind = type(item)
            if item_kind is str or item_kind is int or item_kind is bool or item is None:
                continue
            if not self._plain(item, depth):
                return False
        return True

    def _convert(self, value: object, depth: int, seen: set[int]) -> JSONValue:
        kind = type(value)
        if kind is str:
            return clean_text(value)  # type: ignore[arg-type]
        if kind is int:
            return value if _INT64_MIN <= value <= _UINT64_MAX else str(value)  # type: ignore[operator,return-value]
        if kind is bool or value is None:
            return value  # type: ignore[return-value]
        if kind is float:
            return _float(value)  # type: ignore[arg-type]
        if isinstance(value, enum.Enum):
            return self._convert(value.value, depth, seen)
        if isinstance(value, str):
            return clean_text(str.__str__(value))
        if isinstance(value, int):
            return self._convert(int(value), depth, seen)
        if isinstance(value, float):
            return _float(float(value))
        if depth >= self._max_depth:
            return DEPTH_MARKER
        if isinstance(value, Mapping | list | tuple | set | frozenset) or (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            return self._container(value, depth, seen)
        return self._leaf(value, depth, seen)

    def _container(self, value: object, depth: int, seen: set[int]) -> JSONValue:
        marker = id(value)
        if marker in seen:
            return CYCLE_MARKER
        seen.add(marker)
        try:
            if isinstance(value, Mapping):
                return self._object(value.items(), depth, seen)
            if isinstance(value, set | frozenset):
                return [self._convert(v, depth + 1, seen) for v in sorted(value, key=_repr)]
            if isinstance(value, list | tuple):
                return [self._convert(v, depth + 1, seen) for v in value]
            fields = dataclasses.fields(value)  # type: ignore[arg-type]
            return self._object(((f.name, getattr(value, f.name)) for f in fields), depth, seen)
        finally:
            seen.discard(marker)

    def _object(
        self, items: Iterable[tuple[object, object]], depth: int, seen: set[int]
    ) -> dict[str, JSONValue]:
        redact = self._redact
        out: dict[str, JSONValue] = {}
        for key, item in items:
            name = _key(key)
            if redact is not None and redact(name):
                out[name] = REDACTED
            else:
                out[name] = self._convert(item, depth + 1, seen)
        return out

    def _leaf(self, value: object, depth: int, seen: set[int]) -> JSONValue:
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, Decimal | UUID | uuid_utils.UUID | PurePath):
            return _text(value)
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            try:
                return clean_text(raw.decode("utf-8"))
            except UnicodeDecodeError:
                return "base64:" + base64.b64encode(raw).decode("ascii")
        if isinstance(value, BaseException):
            return {"type": clean_text(type(value).__name__), "message": _text(value)}
        if isinstance(value, BaseModel):
            try:
                dumped = value.model_dump(mode="json")
            except Exception:  # a model whose serializer fails is still logged, as text
                return _described(value)
            return self._convert(dumped, depth, seen)
        return _described(value)


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _key(key: object) -> str:
    if key.__class__ is str:
        return clean_text(key)
    if isinstance(key, enum.Enum):
        return _key(key.value)
    if isinstance(key, str):
        return clean_text(str.__str__(key))
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return _text(key)


def _unprintable(value: object) -> str:
    return clean_text(f"<{type(value).__name__}> (unprintable)")


def _text(value: object) -> str:
    try:
        return clean_text(str(value))
    except Exception:
        return _unprintable(value)


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return ""


def _described(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        return _unprintable(value)
    return clean_text(f"<{type(value).__name__}> {text}"[:MAX_REPR_CHARS])


def _oversize(encoded: bytes) -> dict[str, Any]:
    return {
        PAYLOAD_TRUNCATED_KEY: True,
        "original_bytes": len(encoded),
        "preview": encoded[: PAYLOAD_PREVIEW_CHARS * 4].decode("utf-8", "ignore")[
            :PAYLOAD_PREVIEW_CHARS
        ],
    }


_PLAIN_JSON: Final = PayloadConverter()


def to_json(value: object) -> JSONValue:
    """``value`` as JSON by the module's rules, nothing redacted."""
    return _PLAIN_JSON.to_json(value)


def clean_payload(value: object) -> dict[str, Any]:
    """A record payload made of ``value`` by the module's rules, nothing redacted."""
    return _PLAIN_JSON.payload(value)


__all__ = [
    "CYCLE_MARKER",
    "MAX_REPR_CHARS",
    "REDACTED",
    "PayloadConverter",
    "clean_payload",
    "to_json",
]
