"""Worker-side coalescing: messages waiting in the queue are written together, acked after commit.

Celery runs one task per message, and that per-message round trip (consumer -> pool process ->
result -> ack) costs far more than writing 50 rows: a prefork worker runs only some hundreds of
tasks a second, so a queue of small batches drains far below what COPY could take. This module
replaces the task's *strategy* (what the consumer, in the worker's main process, does with a
received message):

- a fresh message (first delivery, no ETA, protocol 2) is held instead of becoming a Request;
- whenever a pool process is free, what is held (up to ``WORKER_COALESCE_MAX_MESSAGES``
  messages and ``WORKER_COALESCE_MAX_BYTES`` bytes) goes to it as ONE job,
  :func:`write_group`: each message is decoded and validated on its own, an invalid one is
  dead-lettered on its own, and all valid batches are written in one transaction (one COPY);
- only when the job returns does the main process ack those messages (never before commit),
  in one Redis round trip;
- if the job failed (database error, time limit, anything), every message of the group takes
  the normal per-message path instead (the default strategy: a Request running the task, with
  its retry, backoff and dead letter); the writes are idempotent, so redoing a part is harmless;
- if the pool process died (SIGKILL, OOM), the group is rejected with requeue, as
  ``task_reject_on_worker_lost`` does for one message; if the whole worker dies nothing held
  was acked, so Redis redelivers it after the visibility timeout.

Retries (``retries`` > 0 or an ETA) never coalesce: they keep their countdown on the
per-message path. Under light load a message is dispatched as soon as it arrives (a process is
free), so coalescing adds no latency; under load the processes are busy and messages pile up
while they write, which is exactly when bigger writes pay. The prefetch window
(``WORKER_PREFETCH_MULTIPLIER`` x concurrency) bounds how many messages can be held.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Literal

from celery import Celery, Task
from celery.worker import state as worker_state
from celery.worker.strategy import default as default_strategy
from kombu.serialization import loads as kombu_loads
from kombu.transport.redis import QoS as RedisQoS
from kombu.transport.virtual.base import QoS as VirtualQoS
from pydantic import TypeAdapter, ValidationError

from execlog_schema.codec import decode_batch
from execlog_schema.errors import BatchRejected
from execlog_schema.models import LogBatch
from execlog_service.log_setup import get_logger
from execlog_worker.ingest.batch import dead_letter
from execlog_worker.ingest.child_runtime import ChildRuntime, get_runtime
from execlog_worker.metrics import (
    COALESCED_MESSAGES,
)
from execlog_worker.settings import Settings, get_settings

log = get_logger(__name__)
_celery_log = logging.getLogger(__name__)

Outcome = Literal["ack", "fallback"]
ACK: Final = "ack"
FALLBACK: Final = "fallback"
Item = tuple[bytes, str, str, str | None]
"""What a pool process gets per message: body, content type, content encoding, task id."""

_TASK_BODY: Final = TypeAdapter(tuple[tuple[LogBatch], dict[str, Any], dict[str, Any]])
_JSON_ACCEPT: Final = frozenset({"application/json"})
_settings: Settings | None = None
_virtual_ack: Callable[[Any, Any], None] = VirtualQoS.ack
_kombu_loads: Callable[..., Any] = kombu_loads


def configure(settings: Settings) -> None:
    """Settings used by the strategy and by :func:`write_group` (set before the pool forks)."""
    global _settings
    _settings = settings


def _current_settings() -> Settings:
    return _settings or get_settings()


@dataclass(slots=True)
class _Held:
    message: Any
    ack: Any
    reject: Any
    callbacks: Any
    size: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that breaks the contract: its task argument (or raw body) and why."""

    raw: object
    error: BatchRejected


def is_fresh(message: Any) -> bool:
    """A first delivery without ETA in task protocol 2: one that may be coalesced."""
    headers = message.headers or {}
    return (
        "task" in headers
        and not headers.get("retries")
        and not headers.get("eta")
        and isinstance(message.body, bytes | bytearray | memoryview | str)
    )


def coalescing_strategy(task: Task, app: Celery, consumer: Any, **kwargs: Any) -> Any:
    """Celery task strategy (``Task.Strategy``): see the module doc."""
    fallback = default_strategy(task, app, consumer, **kwargs)
    settings = _current_settings()
    if not settings.worker_coalesce:
        return fallback
    pool = consumer.pool
    errors = consumer.connection_errors
    slots = max(1, int(getattr(pool, "num_processes", None) or 1))
    max_messages = settings.worker_coalesce_max_messages
    max_bytes = settings.worker_coalesce_max_bytes
    soft = task.soft_time_limit or app.conf.task_soft_time_limit
    hard = task.time_limit or app.conf.task_time_limit
    held: deque[_Held] = deque()
    busy = [0]

    def per_message(item: _Held) -> None:
        fallback(item.message, None, item.ack, item.reject, item.callbacks)

    def done(group: list[_Held], began: float, result: Any) -> None:
        busy[0] -= 1
        outcomes: list[Any] = (
            result if isinstance(result, list) and len(result) == len(group) else []
        )
        if not outcomes:
            log.warning("coalesced write gave no outcome; per-message path", messages=len(group))
            outcomes = [FALLBACK] * len(group)
        pairs = list(zip(group, outcomes, strict=True))
        ack_all([item.message for item, outcome in pairs if outcome == ACK], errors)
        for item, outcome in pairs:
            if outcome != ACK:
                per_message(item)
        log.debug(
            "coalesced write done",
            messages=len(group),
            ms=round((time.monotonic() - began) * 1e3, 1),
            held=len(held),
        )
        dispatch()

    def lost(group: list[_Held], exc_info: Any) -> None:
        busy[0] -= 1
        log.error(
            "pool process lost during a coalesced write; requeueing its messages",
            messages=len(group),
            error=repr(getattr(exc_info, "exception", exc_info))[:300],
        )
        for item in group:
            item.message.reject_log_error(_celery_log, errors, requeue=True)
        dispatch()

    def dispatch() -> None:
        while held and busy[0] < slots:
            group: list[_Held] = []
            size = 0
            while held and len(group) < max_messages:
                if group and size + held[0].size > max_bytes:
                    break
                item = held.popleft()
                group.append(item)
                size += item.size
            items: list[Item] = [
                (
                    bytes(g.message.body),
                    g.message.content_type,
                    g.message.content_encoding,
                    (g.message.headers or {}).get("id"),
                )
                for g in group
            ]
            busy[0] += 1
            count_accepted(task.name, len(group))
            try:
                pool.apply_async(
                    write_group,
                    args=(items,),
                    callback=partial(done, group, time.monotonic()),
                    error_callback=partial(lost, group),
                    soft_timeout=soft,
                    timeout=hard,
                )
            except Exception as exc:
                busy[0] -= 1
                log.error("could not hand a coalesced write to the pool", error=repr(exc))
                for item in group:
                    per_message(item)

    def handler(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **kw: Any) -> Any:
        if body is not None or not is_fresh(message):
            return fallback(message, body, ack, reject, callbacks, **kw)
        held.append(_Held(message, ack, reject, callbacks, len(message.body)))
        dispatch()
        return None

    return handler


def count_accepted(name: str, messages: int) -> None:
    """Count coalesced messages in the worker's task totals (``celery inspect stats``), as
    Celery counts a task it accepts; they do not appear in ``inspect active``/``reserved``."""
    worker_state.total_count.update({name: messages})
    worker_state.all_total_count[0] += messages


def ack_all(messages: list[Any], errors: tuple[type[BaseException], ...]) -> None:
    """Ack ``messages`` in one Redis round trip (kombu's Redis QoS keeps one unacked entry per
    message; removing them is a pipeline of ZREM/HDEL); one by one on any other transport.

    If the pipeline fails, nothing is acked: the messages come back after the visibility
    timeout and the idempotent write absorbs them.
    """
    pending = [m for m in messages if not m.acknowledged]
    if not pending:
        return
    channel = pending[0].channel
    qos = getattr(channel, "qos", None)
    remove = getattr(qos, "_remove_from_indices", None)
    if (
        remove is None
        or not isinstance(qos, RedisQoS)
        or channel.no_ack_consumers
        or any(m.channel is not channel for m in pending)
    ):
        for message in pending:
            message.ack_log_error(_celery_log, errors)
        return
    try:
        with qos.pipe_or_acquire() as pipe:
            for message in pending:
                remove(message.delivery_tag, pipe)
            pipe.execute()
    except Exception as exc:
        _celery_log.critical("Couldn't ack %d messages, reason: %r", len(pending), exc)
        return
    for message in pending:
        _virtual_ack(qos, message.delivery_tag)
        message._state = "ACK"


def task_argument(body: bytes, content_type: str, content_encoding: str) -> object:
    """The task's one positional argument out of a protocol-2 body ``[args, kwargs, embed]``;
    what the body decodes to otherwise (or the raw body when it does not decode)."""
    try:
        decoded = _kombu_loads(body, content_type, content_encoding, accept=_JSON_ACCEPT)
    except Exception:
        return body
    if (
        isinstance(decoded, list | tuple)
        and len(decoded) >= 2
        and isinstance(decoded[0], list | tuple)
        and len(decoded[0]) == 1
        and not decoded[1]
    ):
        return decoded[0][0]
    return decoded


def decode_message(body: bytes, content_type: str, content_encoding: str) -> LogBatch | Rejected:
    """The validated LogBatch of a protocol-2 task body, or why it breaks the contract.

    Fast path: pydantic parses and validates the JSON body in one pass (no intermediate
    dicts). Anything it does not take as is (another content type, a newer minor with fields
    this version does not know, any error) goes through ``decode_batch``, the contract's own
    decoder, which also gives the exact reason; what the fast path accepts, ``decode_batch``
    accepts with the same result.
    """
    if content_type == "application/json" and content_encoding in ("utf-8", "utf8", ""):
        try:
            (batch,), kwargs, _embed = _TASK_BODY.validate_json(body)
        except ValidationError:
            pass
        else:
            if not kwargs:
                return batch
    raw = task_argument(body, content_type, content_encoding)
    try:
        return decode_batch(raw)
    except BatchRejected as exc:
        return Rejected(raw, exc)


async def _write(items: list[Item], runtime: ChildRuntime) -> list[Outcome]:
    writer = await runtime.writer()
    batches: list[LogBatch] = []
    invalid: list[tuple[Rejected, str | None]] = []
    for body, content_type, content_encoding, task_id in items:
        decoded = decode_message(body, content_type, content_encoding)
        if isinstance(decoded, Rejected):
            invalid.append((decoded, task_id))
        else:
            batches.append(decoded)
    if batches:
        result = await writer.write_batches(batches, source="task")
        # One line per group instead of Celery's two per task ("received", "succeeded").
        log.info(
            "batches written",
            messages=len(items),
            task_ids=[task_id for _, _, _, task_id in items],
            records=result.records,
            written=result.written,
            duplicates=result.duplicates,
        )
    for rejected, task_id in invalid:
        await dead_letter(
            rejected.raw,
            writer,
            reason=rejected.error.reason,
            batch_id=rejected.error.batch_id,
            kind="invalid",
            source="task",
            task_id=task_id,
        )
    COALESCED_MESSAGES.observe(len(items))
    return [ACK] * len(items)


def write_group(items: list[Item]) -> list[Outcome]:
    """Runs in a pool process: validate each message, write all valid ones in one transaction,
    dead-letter the invalid ones; ``ack`` for each, or ``fallback`` for all on any error."""
    return run_group(items, get_runtime(_current_settings()))


def run_group(items: list[Item], runtime: ChildRuntime) -> list[Outcome]:
    """:func:`write_group` on a given runtime."""
    try:
        return runtime.run(_write(items, runtime))
    except Exception as exc:
        runtime.cancel_pending()
        log.warning(
            "coalesced write failed; its messages take the per-message path",
            messages=len(items),
            error=repr(exc)[:300],
        )
        return [FALLBACK] * len(items)
