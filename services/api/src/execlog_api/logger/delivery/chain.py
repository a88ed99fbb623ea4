"""Delivery of LogBatches: Celery broker, HTTP fallback to log-worker, disk spool, and the chain.

All of it is blocking code meant for the logger's sender/spill threads, never the event loop.

Spool format: one directory; files ``<time_ns:020d>-<pid>-<seq:06d>.jsonl`` (so name order is
age order) each holding one compact JSON LogBatch (``encode_batch``) per line, appended and
fsynced per batch. A writer holds ``flock(LOCK_EX)`` on its open file, so another process
never replays a file still being written. Replay reads files oldest first; after each batch is
acknowledged (broker or HTTP) one byte is appended (and fsynced) to ``<file>.acked``, so the
number of acked batches survives a crash and a restarted replay skips them. A file and its
``.acked`` are deleted only after every batch in it is acknowledged. A line that does not
decode (torn by a crash mid-append) is moved to ``rejected/`` and counted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from celery import Celery

from execlog_broker.transport import transport_options as shared_transport_options
from execlog_schema.codec import BatchRejected, decode_batch, encode_batch
from execlog_schema.models import LogBatch
from execlog_schema.wire import QUEUE_NAME, TASK_NAME, register_kombu_json

SPOOL_SUFFIX = ".jsonl"
ACK_SUFFIX = ".acked"
REJECTED_DIR = "rejected"


class DeliveryError(Exception):
    """A transport could not deliver a batch."""


class SpoolError(DeliveryError):
    """The disk spool could not store a batch (full, or an OS error)."""


class WorkerRejectedError(Exception):
    """log-worker answered 422 to a batch: invalid, kept there as a dead letter (final)."""


class BatchSender(Protocol):
    """Anything that delivers one batch or raises."""

    name: str

    def send(self, batch: LogBatch) -> None:
        """Deliver ``batch``; return only once it is acknowledged, else raise."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class BrokerOptions:
    """Celery/kombu publishing options: short timeouts so a dead broker fails fast."""

    url: str
    key_prefix: str = ""
    connect_timeout: float = 1.0
    socket_timeout: float = 2.0
    max_retries: int = 2
    retry_interval: float = 0.2
    retry_interval_max: float = 1.0
    sentinel_master: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    def retry_policy(self) -> dict[str, float | int]:
        """kombu publish retry policy (exponential-ish: start, step, max)."""
        return {
            "max_retries": self.max_retries,
            "interval_start": 0,
            "interval_step": self.retry_interval,
            "interval_max": self.retry_interval_max,
        }


def make_celery_app(options: BrokerOptions, name: str = "execlog_api") -> Celery:
    """A producer-only Celery app for queue ``logs`` (JSON only, no result backend)."""
    register_kombu_json()
    app = Celery(name, broker=options.url, set_as_current=False)
    transport_options: dict[str, Any] = {
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.connect_timeout,
        "retry_on_timeout": False,
        "health_check_interval": 25,
        "max_connections": 4,
        **shared_transport_options(
            key_prefix=options.key_prefix,
            sentinel_master=options.sentinel_master,
            sentinel_password=options.sentinel_password,
        ),
    }
    app.conf.update(
        broker_connection_timeout=options.connect_timeout,
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_connection_max_retries=0,
        broker_transport_options=transport_options,
        broker_pool_limit=2,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=QUEUE_NAME,
        task_routes={TASK_NAME: {"queue": QUEUE_NAME}},
        task_publish_retry=True,
        task_publish_retry_policy=options.retry_policy(),
        timezone="UTC",
        enable_utc=True,
    )
    return app


class CelerySender:
    """Publishes a batch with ``send_task`` (task id = batch id) to queue ``logs``."""

    name = "broker"

    def __init__(self, options: BrokerOptions, app: Celery | None = None) -> None:
        self.options = options
        self.app = app if app is not None else make_celery_app(options)

    def send(self, batch: LogBatch) -> None:
        """Publish; kombu retries per the policy, then the error propagates as DeliveryError."""
        self.publish(str(batch.batch_id), len(batch.records), encode_batch(batch))

    def publish(self, batch_id: str, records: int, data: bytes) -> None:
        """Publish a batch already encoded as JSON (``encode_batch``) under task id ``batch_id``."""
        try:
            self.app.send_task(
                TASK_NAME,
                # Encoded once by orjson and embedded verbatim by the orjson kombu codec
                # (register_kombu_json): the same JSON on the wire, without encoding the batch,
                # decoding it back to a dict and encoding that again.
                args=[orjson.Fragment(data)],
                queue=QUEUE_NAME,
                task_id=batch_id,
                # Celery would otherwise build a repr of the whole batch for the message
                # headers on every publish (a quarter of the publish CPU).
                argsrepr=f"<LogBatch {batch_id}: {records} records>",
                kwargsrepr="{}",
                retry=True,
                retry_policy=self.options.retry_policy(),
                ignore_result=True,
            )
        except Exception as exc:
            raise DeliveryError(f"broker publish failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the producer pool and broker connections."""
        with contextlib.suppress(Exception):
            self.app.close()


class HttpFallback:
    """POSTs a batch to log-worker's ``/v1/batches`` with the bearer token."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )

    def send(self, batch: LogBatch) -> None:
        """Deliver; 422 raises WorkerRejectedError (final), other non-2xx/network DeliveryError."""
        try:
            response = self._client.post("/v1/batches", content=encode_batch(batch))
        except httpx.HTTPError as exc:
            raise DeliveryError(f"log-worker unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 422:
            raise WorkerRejectedError(f"log-worker rejected the batch: {response.text[:500]}")
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"log-worker answered {response.status_code}: {response.text[:200]}"
            )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


@dataclass
class ReplayResult:
    """What one :meth:`DiskSpool.replay` call did."""

    batches: int = 0
    records: int = 0
    files_done: int = 0
    corrupt_lines: int = 0
    stopped_by_error: str | None = None


@dataclass
class _Active:
    path: Path
    fd: int
    size: int


class DiskSpool:
    """Append-only, fsynced, crash-safe spool of batches; see the module doc for the format."""

    def __init__(self, directory: Path, *, file_max_bytes: int, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.file_max_bytes = file_max_bytes
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self._seq = 0
        self.on_append: Callable[[int], None] | None = None

    def append(self, batch: LogBatch) -> int:
        """Append one batch as a JSON line and fsync; returns the bytes written."""
        data = encode_batch(batch) + b"\n"
        with self._lock:
            if self.pending_bytes() + len(data) > self.max_bytes:
                raise SpoolError(
                    f"spool full: {self.max_bytes} bytes limit (LOG_SPOOL_MAX_BYTES) reached"
                )
            try:
                active = self._ensure_active()
                view = memoryview(data)
                while view:
                    written = os.write(active.fd, view)
                    view = view[written:]
                os.fsync(active.fd)
            except OSError as exc:
                self._close_active()
                raise SpoolError(f"spool write failed: {exc}") from exc
            active.size += len(data)
            if active.size >= self.file_max_bytes:
                self._close_active()
        if self.on_append is not None:
            self.on_append(len(data))
        return len(data)

    def seal(self) -> None:
        """Close the file being written so a replay may take it."""
        with self._lock:
            self._close_active()

    def close(self) -> None:
        """Close the active file (the data is already durable)."""
        self.seal()

    def files(self) -> list[Path]:
        """Spool files, oldest first (including ones held by writers)."""
        try:
            return sorted(self.directory.glob(f"*{SPOOL_SUFFIX}"))
        except OSError:
            return []

    def pending_bytes(self) -> int:
        """Bytes in spool files (an upper bound of what is still to replay)."""
        total = 0
        for path in self.files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def has_pending(self) -> bool:
        """Whether any spool file exists."""
        return bool(self.files())

    def replay(self, send: Callable[[LogBatch], None], *, max_batches: int = 100) -> ReplayResult:
        """Deliver spooled batches oldest first with ``send``; stop at its first error."""
        result = ReplayResult()
        self.seal()
        self._drop_orphan_acks()
        for path in self.files():
            if result.batches >= max_batches or result.stopped_by_error is not None:
                break
            self._replay_file(path, send, result, max_batches)
        return result

    def _replay_file(
        self,
        path: Path,
        send: Callable[[LogBatch], None],
        result: ReplayResult,
        max_batches: int,
    ) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            if not path.exists():
                return
            with os.fdopen(os.dup(fd), "rb") as reader:
                lines = reader.read().split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            ack_path = path.with_name(path.name + ACK_SUFFIX)
            acked = _ack_count(ack_path)
            for index in range(acked, len(lines)):
                if result.batches >= max_batches:
                    return
                line = lines[index]
                batch = self._decode(path, line, result)
                if batch is not None:
                    try:
                        send(batch)
                    except Exception as exc:
                        result.stopped_by_error = f"{type(exc).__name__}: {exc}"
                        return
                    result.batches += 1
                    result.records += len(batch.records)
                _append_ack(ack_path)
            path.unlink(missing_ok=True)
            ack_path.unlink(missing_ok=True)
            _fsync_dir(self.directory)
            result.files_done += 1
        finally:
            os.close(fd)

    def _decode(self, path: Path, line: bytes, result: ReplayResult) -> LogBatch | None:
        if not line.strip():
            return None
        try:
            return decode_batch(line)
        except BatchRejected:
            result.corrupt_lines += 1
            rejected = self.directory / REJECTED_DIR
            rejected.mkdir(exist_ok=True)
            with open(rejected / path.name, "ab") as sink:
                sink.write(line + b"\n")
                sink.flush()
                os.fsync(sink.fileno())
            return None

    def _drop_orphan_acks(self) -> None:
        for ack in self.directory.glob(f"*{SPOOL_SUFFIX}{ACK_SUFFIX}"):
            if not ack.with_name(ack.name[: -len(ACK_SUFFIX)]).exists():
                ack.unlink(missing_ok=True)

    def _ensure_active(self) -> _Active:
        if self._active is not None:
            return self._active
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{SPOOL_SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _fsync_dir(self.directory)
        self._active = _Active(path, fd, 0)
        return self._active

    def _close_active(self) -> None:
        if self._active is None:
            return
        try:
            os.close(self._active.fd)
        finally:
            self._active = None


def _ack_count(ack_path: Path) -> int:
    try:
        return ack_path.stat().st_size
    except FileNotFoundError:
        return 0


def _append_ack(ack_path: Path) -> None:
    fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b".")
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Breaker:
    """Skip a failing transport until a probe time that backs off exponentially."""

    def __init__(
        self, initial: float, maximum: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self.ok = True
        self._delay = initial
        self._probe_at = 0.0

    def allows(self) -> bool:
        """True when healthy or when the next probe is due."""
        return self.ok or self.clock() >= self._probe_at

    def seconds_until_probe(self) -> float:
        """0 when healthy, else time until the next probe."""
        return 0.0 if self.ok else max(0.0, self._probe_at - self.clock())

    def success(self) -> None:
        """Record a success: healthy again, backoff reset."""
        self.ok = True
        self._delay = self.initial

    def failure(self) -> None:
        """Record a failure: skip until now + delay, then double the delay (capped)."""
        self.ok = False
        self._probe_at = self.clock() + self._delay
        self._delay = min(self._delay * 2, self.maximum)


class Route(StrEnum):
    """Where a batch ended up."""

    BROKER = "broker"
    HTTP = "http"
    REJECTED = "rejected"
    SPOOL = "spool"


class DeliveryChain:
    """broker (with retry, behind a breaker) -> HTTP fallback (behind a breaker) -> disk spool."""

    def __init__(
        self,
        broker: BatchSender,
        spool: DiskSpool,
        http: BatchSender | None = None,
        *,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.broker = broker
        self.http = http
        self.spool = spool
        self.broker_breaker = Breaker(backoff, backoff_max, clock)
        self.http_breaker = Breaker(backoff, backoff_max, clock)
        self.on_failure = on_failure

    def send_network(self, batch: LogBatch) -> Route:
        """Broker, else HTTP fallback; raises DeliveryError when neither acknowledges."""
        errors: list[str] = []
        if self.broker_breaker.allows():
            try:
                self.broker.send(batch)
            except Exception as exc:
                self.broker_breaker.failure()
                errors.append(str(exc))
                self._failed("broker", str(exc))
            else:
                self.broker_breaker.success()
                return Route.BROKER
        else:
            errors.append("broker skipped (recently failed)")
        if self.http is not None and self.http_breaker.allows():
            try:
                self.http.send(batch)
            except WorkerRejectedError as exc:
                self.http_breaker.success()
                self._failed("http_rejected", str(exc))
                return Route.REJECTED
            except Exception as exc:
                self.http_breaker.failure()
                errors.append(str(exc))
                self._failed("http", str(exc))
            else:
                self.http_breaker.success()
                return Route.HTTP
        raise DeliveryError("; ".join(errors))

    def deliver(self, batch: LogBatch) -> Route:
        """Network first, then the spool; raises SpoolError only when even the spool fails."""
        try:
            return self.send_network(batch)
        except DeliveryError:
            pass
        try:
            self.spool.append(batch)
        except SpoolError as exc:
            self._failed("spool", str(exc))
            raise
        return Route.SPOOL

    def close(self) -> None:
        """Close every transport."""
        self.broker.close()
        if self.http is not None:
            self.http.close()
        self.spool.close()

    def _failed(self, transport: str, error: str) -> None:
        if self.on_failure is not None:
            self.on_failure(transport, error)
