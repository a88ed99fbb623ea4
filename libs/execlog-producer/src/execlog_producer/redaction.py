"""The redaction rule: which payload keys name a secret (``EXECLOG_REDACT_KEYS``).

A key is sensitive when, split into lower-case words (``_``, ``-``, space, ``.`` and camelCase
boundaries), it contains the words of a configured key in sequence: ``X-Api-Key``,
``db_password``, ``accessToken`` match; ``max_tokens`` does not. ``SensitiveKeys.__getitem__``
is the key hook of the schema library's ``PayloadConverter``, which converts payloads and puts
``REDACTED`` in place of a sensitive key's value, whatever it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD_SPLIT = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_VERDICT_CACHE_SIZE = 10_000

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "cookie",
    "set_cookie",
)
"""The keys redacted unless configured otherwise."""


def _words(key: str) -> tuple[str, ...]:
    parts: list[str] = []
    for chunk in _WORD_SPLIT.split(key):
        if chunk:
            parts.extend(p.lower() for p in _CAMEL.split(chunk) if p)
    return tuple(parts)


class SensitiveKeys(dict[str, bool]):
    """``keys[name]``: whether the payload key ``name`` names a secret. A verdict is worked out on
    first look and kept (payload keys repeat from record to record), so the converter's hook,
    ``keys.__getitem__``, is one dict lookup per key."""

    def __init__(self, keys: Iterable[str]) -> None:
        super().__init__()
        patterns = {_words(k) for k in keys}
        self._patterns: tuple[tuple[str, ...], ...] = tuple(sorted(p for p in patterns if p))
        self._joined = frozenset("".join(p) for p in self._patterns)

    def __missing__(self, key: str) -> bool:
        verdict = self._match(key)
        if len(self) < _VERDICT_CACHE_SIZE:
            self[key] = verdict
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
