"""Broker publishing from a child process, so a publish never holds the producing process's GIL.

Celery and kombu spend ~0.5 ms of pure-Python CPU on every publish. In the producing process that
runs in the logger's sender thread, and CPython gives the GIL back to the waiting event loop
only when that thread blocks or after the switch interval: the loop stalls for most of a
publish (BENCHMARKS.md, "The event loop while a publish is in flight"). Here the sender thread
only writes the encoded batch to a pipe and waits for the answer, both without the GIL; a
child process forked from the producing process does the Celery publish.

Protocol on the pipe (``multiprocessing`` connection, one message per frame): the parent sends
``b"<batch id> <records>\\n" + <batch JSON>``; the child publishes it with
:meth:`CelerySender.publish` and answers ``b"ok"`` or ``b"error: <reason>"``. Nothing is
acknowledged before the broker took it, so a child that dies or stalls costs at most a
republish: the parent raises DeliveryError (the chain falls back to HTTP or the spool) and forks
a new child for the next batch; the worker's writes are idempotent on record ids.

The child ignores SIGINT and SIGTERM (a Ctrl-C or a process-group stop must not kill it before
the producer has drained its buffer through it) and exits when the parent closes its end of the
pipe, or dies.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from multiprocessing import util as mp_util
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import structlog

from execlog_producer.delivery.celery_sender import BrokerOptions, CelerySender
from execlog_producer.delivery.errors import DeliveryError
from execlog_schema.codec import encode_batch
from execlog_schema.models import LogBatch

_log = structlog.get_logger(__name__)

OK = b"ok"
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
ERROR_PREFIX = b"error: "
_CLOSE_GRACE = 10.0


def reply_timeout(options: BrokerOptions) -> float:
    """How long a publish may take in the child: every kombu attempt and its waits, plus 5 s."""
    attempts = options.max_retries + 1
    per_attempt = options.connect_timeout + options.socket_timeout
    return attempts * per_attempt + options.max_retries * options.retry_interval_max + 5.0


def frame(batch_id: str, records: int, data: bytes) -> bytes:
    """One request frame: header line, then the batch JSON."""
    return f"{batch_id} {records}\n".encode() + data


def unframe(message: bytes) -> tuple[str, int, bytes]:
    """(batch id, records, batch JSON) of a request frame; ValueError when malformed."""
    header, _, data = message.partition(b"\n")
    fields = header.split(b" ")
    if len(fields) != 2 or not fields[1].isdigit() or not data:
        raise ValueError(f"malformed request frame: {header[:80]!r}")
    return fields[0].decode(), int(fields[1]), data


def _close_pipes(pipes: list[Connection]) -> None:
    """At interpreter exit, before multiprocessing joins its children: EOF sends the child off.

    multiprocessing's exit handler SIGTERMs daemonic children (ignored here) and joins them; a
    parent that exits without :meth:`PublisherProcess.close` would wait for ever otherwise.
    """
    for conn in pipes:
        conn.close()
    pipes.clear()


def serve(conn: Connection, peer: Connection, options: BrokerOptions) -> None:
    """The child's main: publish every frame read from ``conn`` until the parent is gone."""
    peer.close()
    signal.set_wakeup_fd(-1)  # the parent's event loop owns the inherited wakeup socket
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    sender = CelerySender(options)
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return
            try:
                sender.publish(*unframe(message))
            except Exception as exc:
                conn.send_bytes(ERROR_PREFIX + str(exc).encode(errors="replace"))
            else:
                conn.send_bytes(OK)
    finally:
        sender.close()


class PublisherProcess:
    """BatchSender that publishes through a forked child process (see the module doc)."""

    name = "broker"

    def __init__(self, options: BrokerOptions, *, timeout: float | None = None) -> None:
        self.options = options
        self.timeout = reply_timeout(options) if timeout is None else timeout
        self._context = multiprocessing.get_context("fork")
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        # The parent's end of the pipe (at most one), in a list the exit finalizer can hold
        # without holding this object.
        self._pipes: list[Connection] = []
        mp_util.Finalize(self, _close_pipes, args=(self._pipes,), exitpriority=10)
        self.restarts = 0
        with self._lock:
            self._start()

    @property
    def _conn(self) -> Connection | None:
        return self._pipes[0] if self._pipes else None

    @property
    def pid(self) -> int | None:
        """The child's pid (None when there is none)."""
        return self._process.pid if self._process is not None else None

    def send(self, batch: LogBatch) -> None:
        """Hand the batch to the child and return once the broker took it; else DeliveryError."""
        message = frame(str(batch.batch_id), len(batch.records), encode_batch(batch))
        with self._lock:
            conn = self._ready()
            try:
                conn.send_bytes(message)
                if not conn.poll(self.timeout):
                    raise DeliveryError(
                        f"publisher process did not answer within {self.timeout:.0f}s"
                    )
                reply = conn.recv_bytes()
            except DeliveryError:
                self._stop(kill=True)
                raise
            except (OSError, EOFError) as exc:
                self._stop(kill=True)
                raise DeliveryError(f"publisher process lost: {type(exc).__name__}") from exc
        if reply != OK:
            raise DeliveryError(reply.removeprefix(ERROR_PREFIX).decode(errors="replace"))

    def close(self) -> None:
        """Close the pipe; the child finishes what it holds and exits (killed after a grace)."""
        with self._lock:
            self._stop(kill=False)

    def _ready(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            if self._process is not None:
                self._stop(kill=True)
                self.restarts += 1
                _log.warning("execlog_publisher_restarted", restarts=self.restarts)
            self._start()
        assert self._conn is not None
        return self._conn

    def _start(self) -> None:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=serve,
            args=(child, parent, self.options),
            name="execlog-publisher",
            daemon=True,
        )
        # Blocked across the fork: one that arrives before the child ignores them stays pending
        # in the child and is then dropped, instead of killing it with the parent's handlers.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        child.close()
        self._process = process
        self._pipes[:] = [parent]

    def _stop(self, *, kill: bool) -> None:
        conn, process = self._conn, self._process
        self._process = None
        self._pipes.clear()
        if conn is not None:
            conn.close()
        if process is None:
            return
        if kill:
            process.kill()
        process.join(_CLOSE_GRACE)
        if process.is_alive():
            process.kill()
            process.join(_CLOSE_GRACE)
        process.close()
