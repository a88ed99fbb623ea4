"""Payload hygiene before shipping: redact sensitive keys and convert values to plain JSON.

Conversion rules (predictable, documented in the logger's README section of docs/):

- ``dict`` keys become ``str`` (``str(key)``; enum keys use their value).
- ``datetime``/``date``/``time`` -> ISO 8601 text (``isoformat()``); ``timedelta`` -> seconds.
- ``Decimal`` -> its exact text (``"1.10"``), ``UUID`` -> canonical text, ``Enum`` -> its value.
- ``bytes``/``bytearray``/``memoryview`` -> the text when valid UTF-8, else ``"base64:<b64>"``.
- ``float`` NaN/Infinity -> ``"NaN"``/``"Infinity"``/``"-Infinity"`` (JSON has no such numbers).
- tuples -> lists; sets/frozensets -> lists sorted by ``repr``; generators are not consumed
  (they fall under the last rule).
- pydantic models -> ``model_dump(mode="json")``; dataclasses -> their fields; ``Path`` -> text.
- exceptions -> ``{"type": <class name>, "message": <str(exc)>}``.
- anything else -> ``"<ClassName> " + repr(value)`` cut to 1000 characters.
- cycles -> ``"[cycle]"``; nesting deeper than 32 -> ``"[max depth]"``.

Redaction: a key is sensitive when, split into lower-case words (``_``, ``-``, space, ``.``
and camelCase boundaries), it contains the words of a configured key in sequence:
``X-Api-Key``, ``db_password``, ``accessToken`` match; ``max_tokens`` does not.
The value (whatever its type) becomes ``"[REDACTED]"``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel

REDACTED = "[REDACTED]"
MAX_DEPTH = 32
MAX_REPR_CHARS = 1000
CACHE_SIZE = 4096

_WORD_SPLIT = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_VERDICT_CACHE_SIZE = 10_000

JSONValue = dict[str, Any] | list[Any] | str | int | float | bool | None


def _words(key: str) -> tuple[str, ...]:
    parts: list[str] = []
    for chunk in _WORD_SPLIT.split(key):
        if chunk:
            parts.extend(p.lower() for p in _CAMEL.split(chunk) if p)
    return tuple(parts)


class Redactor:
    """Decides which mapping keys are sensitive and converts payloads to redacted plain JSON."""

    def __init__(self, keys: Iterable[str]) -> None:
        patterns = {_words(k) for k in keys}
        self._patterns: tuple[tuple[str, ...], ...] = tuple(sorted(p for p in patterns if p))
        self._joined = frozenset("".join(p) for p in self._patterns)
        self._verdicts: dict[str, bool] = {}
        self._cache: dict[str, bool] = {}

    def is_sensitive(self, key: str) -> bool:
        """Whether ``key`` names a secret (see module doc for the matching rule); memoized, as
        payload keys repeat from record to record."""
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._match(key)
            if len(self._verdicts) < _VERDICT_CACHE_SIZE:
                self._verdicts[key] = verdict
        return verdict

    def _match(self, key: str) -> bool:
        words = _words(key)
        if not words:
            return False
        if "".join(words) in self._joined:
            return True
        for pattern in self._patterns:
            n = len(pattern)
            for start in range(len(words) - n + 1):
                if words[start : start + n] == pattern:
                    return True
        return False

    def clean(self, value: object) -> JSONValue:
        """Return ``value`` as plain JSON types with sensitive keys redacted at any depth."""
        return self._convert(value, 0, set())

    def clean_payload(self, payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Clean a record payload; a non-mapping result is wrapped as ``{"value": ...}``.

        A payload that is already plain JSON (str keys, JSON scalars, dicts and lists) with no
        sensitive key is returned as is (the record builder copies it anyway): one tight walk
        instead of a converted copy, which is what almost every payload is.
        """
        if payload is None:
            return None
        if payload.__class__ is dict and self._plain(payload, 0):
            return payload
        cleaned = self.clean(payload)
        if isinstance(cleaned, dict):
            return cleaned
        return {"value": cleaned}

    def _plain(self, value: object, depth: int) -> bool:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return True
        if kind is float:
            return math.isfinite(value)  # type: ignore[arg-type]
        if depth >= MAX_DEPTH:
            return False
        if kind is dict:
            items: Iterable[object] = value.values()  # type: ignore[attr-defined]
            for key in value:  # type: ignore[attr-defined]
                if key.__class__ is not str or self.is_sensitive(key):
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

    def _key(self, key: object) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, enum.Enum):
            return str(key.value)
        return str(key)

    def _convert(self, value: object, depth: int, seen: set[int]) -> JSONValue:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value  # type: ignore[return-value]
        if kind is float:
            return _float(value)  # type: ignore[arg-type]
        if isinstance(value, bool | str):
            return value
        if isinstance(value, int) and not isinstance(value, enum.Enum):
            return int(value)
        if isinstance(value, float) and not isinstance(value, enum.Enum):
            return _float(value)
        if depth >= MAX_DEPTH:
            return "[max depth]"
        if isinstance(value, Mapping | list | tuple | set | frozenset) or dataclasses.is_dataclass(
            value
        ):
            marker = id(value)
            if marker in seen:
                return "[cycle]"
            seen.add(marker)
            try:
                return self._container(value, depth, seen)
            finally:
                seen.discard(marker)
        return self._scalar(value, depth, seen)

    def _container(self, value: object, depth: int, seen: set[int]) -> JSONValue:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = self._key(key)
                out[name] = (
                    REDACTED if self.is_sensitive(name) else self._convert(item, depth + 1, seen)
                )
            return out
        if isinstance(value, set | frozenset):
            return [self._convert(v, depth + 1, seen) for v in sorted(value, key=repr)]
        if isinstance(value, list | tuple):
            return [self._convert(v, depth + 1, seen) for v in value]
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return _fallback(value)
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return self._container(fields, depth, seen)

    def _scalar(self, value: object, depth: int, seen: set[int]) -> JSONValue:
        if isinstance(value, enum.Enum):
            return self._convert(value.value, depth + 1, seen)
        if isinstance(value, dt.datetime | dt.date | dt.time):
            return value.isoformat()
        if isinstance(value, dt.timedelta):
            return value.total_seconds()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return "base64:" + base64.b64encode(raw).decode("ascii")
        if isinstance(value, PurePath):
            return str(value)
        if isinstance(value, BaseException):
            return {"type": type(value).__name__, "message": _safe_str(value)}
        if isinstance(value, BaseModel):
            try:
                dumped = value.model_dump(mode="json")
            except Exception:  # a model whose serializer fails is still logged, as text
                return _fallback(value)
            return self._convert(dumped, depth + 1, seen)
        uuid_like = _uuid_like(value)
        if uuid_like is not None:
            return uuid_like
        return _fallback(value)


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _uuid_like(value: object) -> str | None:
    """uuid_utils.UUID and similar: objects exposing ``hex`` and a 36-char ``str``."""
    hex_value = getattr(value, "hex", None)
    if isinstance(hex_value, str) and len(hex_value) == 32:
        text = _safe_str(value)
        if len(text) == 36:
            return text
    return None


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} (unprintable)>"


def _fallback(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        text = "(unprintable)"
    return f"<{type(value).__name__}> {text}"[:MAX_REPR_CHARS]
