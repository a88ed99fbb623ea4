"""Wire constants (defined here only) and the orjson-based kombu ``json`` codec.

The task ``TASK_NAME`` on queue ``QUEUE_NAME`` takes ONE positional argument: the ``LogBatch``
as a JSON object (``codec.batch_to_wire``). Only JSON travels on the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

import orjson

QUEUE_NAME: Final = "logs"
TASK_NAME: Final = "execlog.batch_write_logs"
SERIALIZER: Final = "json"
CONTENT_TYPE: Final = "application/json"
CONTENT_ENCODING: Final = "utf-8"

_ORJSON_OPTS: Final = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_KOMBU_TYPE_TAG: Final = '"__type__"'
_KOMBU_TAG_BYTES: Final = _KOMBU_TYPE_TAG.encode()
_lock = threading.Lock()
_registered = False


def orjson_dumps(obj: Any) -> str:
    """kombu encoder: orjson first; values orjson cannot encode go to kombu's own json."""
    try:
        return orjson.dumps(obj, option=_ORJSON_OPTS).decode("utf-8")
    except TypeError:
        from kombu.utils import json as kombu_json

        fallback: Callable[[Any], str] = kombu_json.dumps
        return fallback(obj)


def orjson_loads(data: str | bytes | bytearray | memoryview) -> Any:
    """kombu decoder: orjson. kombu's own json is used for text orjson refuses but stdlib json
    accepts (e.g. lone surrogate escapes: the consumer then rejects the batch with a reason
    instead of the message being dropped as undecodable) and to revive kombu's ``__type__``
    tagged values; a payload that merely has a ``__type__`` key still decodes."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    from kombu.utils import json as kombu_json

    fallback: Callable[[Any], Any] = kombu_json.loads
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return fallback(data)
    tagged = _KOMBU_TYPE_TAG in data if isinstance(data, str) else _KOMBU_TAG_BYTES in data
    if tagged:
        try:
            return fallback(data)
        except Exception:
            return parsed
    return parsed


def register_kombu_json() -> None:
    """Register the orjson codec with kombu as ``json`` (application/json, utf-8). Idempotent."""
    global _registered
    with _lock:
        if _registered:
            return
        from kombu import serialization

        register: Callable[..., None] = serialization.register
        register(
            SERIALIZER,
            orjson_dumps,
            orjson_loads,
            content_type=CONTENT_TYPE,
            content_encoding=CONTENT_ENCODING,
        )
        _registered = True


__all__ = [
    "CONTENT_ENCODING",
    "CONTENT_TYPE",
    "QUEUE_NAME",
    "SERIALIZER",
    "TASK_NAME",
    "orjson_dumps",
    "orjson_loads",
    "register_kombu_json",
]
