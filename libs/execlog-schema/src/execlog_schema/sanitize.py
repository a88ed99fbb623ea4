"""The text rule shared by producer and consumer, and cutting text to the limits.

The rule (applied by the producer, checked by the consumer):

* U+0000 (NUL) is replaced by U+FFFD: PostgreSQL rejects NUL in ``text`` and ``jsonb``.
* Surrogate code points (U+D800..U+DFFF) cannot be encoded as UTF-8. Two of them that form a
  valid high+low pair are joined into the character they encode; every other (lone) surrogate
  is replaced by U+FFFD.
* Nothing else is changed.

``clean_text`` applies the rule to a string (``execlog_schema.payload`` to every string and key
of a payload), ``truncate_message`` cuts a message to ``MAX_MESSAGE_CHARS`` with a visible
marker. ``find_bad_text`` is the consumer-side check.
"""

from __future__ import annotations

import re
from typing import Final

from execlog_schema.limits import MAX_MESSAGE_CHARS, MAX_PAYLOAD_DEPTH, TRUNCATION_MARKER

REPLACEMENT_CHAR: Final = "\ufffd"

_BAD_TEXT: Final = re.compile("[\x00\ud800-\udfff]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

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


def clean_json(obj: object, *, max_depth: int = MAX_PAYLOAD_DEPTH) -> JSONValue:
    """``execlog_schema.payload.to_json`` (the payload rules live there), for callers of 0.1."""
    from execlog_schema.payload import PayloadConverter  # here: that module imports this one

    return PayloadConverter(max_depth=max_depth).to_json(obj)


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
