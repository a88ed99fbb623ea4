"""The disk spool: batches that neither the broker nor log-worker took, replayed oldest first.

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

import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from execlog_producer.delivery.errors import SpoolError
from execlog_schema.codec import BatchRejected, decode_batch, encode_batch
from execlog_schema.models import LogBatch

SPOOL_SUFFIX = ".jsonl"
ACK_SUFFIX = ".acked"
REJECTED_DIR = "rejected"


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
