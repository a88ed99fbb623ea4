"""Managed subprocesses: start with env and a log file, wait until ready, stop or kill, always reap.

Each process runs in a session (and process group) of its own, so a stop or a kill reaches its
children too (Celery's prefork pool, uvicorn's workers). :meth:`ManagedProcess.stop` sends
SIGTERM to the leader, waits ``grace`` seconds, then SIGKILLs the whole group; whatever is
left in the group after the leader exits is killed as well, so nothing outlives the stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

import httpx

from execlog_stack.errors import ProcessFailedError
from execlog_stack.lifecycle import Lifecycle

ReadyCheck = Callable[[], bool]


def child_pythonpath(extra: Iterable[str] = ()) -> str:
    """PYTHONPATH that lets ``sys.executable -m pkg`` import what this process imports."""
    seen: list[str] = []
    for entry in [*extra, *sys.path]:
        if entry and entry not in seen and os.path.exists(entry):
            seen.append(os.path.abspath(entry))
    return os.pathsep.join(seen)


def python_env(
    overrides: Mapping[str, str], *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment of a Python child: ``base`` (default os.environ), PYTHONPATH, ``overrides``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = child_pythonpath()
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def http_ready(url: str, *, timeout: float = 1.0) -> ReadyCheck:
    """A readiness check: True once ``GET url`` answers 200."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    return check


@dataclass
class ProcessSpec:
    """What to run and how to tell it is ready."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path | None = None
    ready: ReadyCheck | None = None
    ready_timeout: float = 60.0
    stop_grace: float = 20.0
    tags: dict[str, str] = field(default_factory=dict)


class ManagedProcess(Lifecycle):
    """One subprocess of the stack; a context manager that always reaps it."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_at: float | None = None
        self.ready_at: float | None = None

    @property
    def name(self) -> str:
        """Name of the process in logs and messages."""
        return self.spec.name

    @property
    def pid(self) -> int:
        """PID of the leader (raises if never started)."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """Exit status of the leader once it exited (negative: killed by that signal)."""
        return None if self._proc is None else self._proc.poll()

    @property
    def running(self) -> bool:
        """Whether the leader was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Spawn the process (output appended to ``spec.log_path``)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = open(self.spec.log_path, "ab")  # noqa: SIM115
        self._log.write(f"\n=== start {self.name}: {' '.join(self.spec.argv)}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            list(self.spec.argv),
            env=dict(self.spec.env),
            cwd=self.spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.ready_at = None
        return self

    def start_ready(self, timeout: float | None = None) -> Self:
        """:meth:`start`, then :meth:`wait_ready`; a process that never became ready is killed."""
        self.start()
        try:
            self.wait_ready(timeout)
        except ProcessFailedError:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout: float | None = None) -> float:
        """Poll the readiness check until it passes; seconds it took. Raises if the process dies."""
        limit = self.spec.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        delay = 0.05
        while True:
            if not self.running:
                raise ProcessFailedError(
                    f"{self.name} exited with status {self.returncode} before it was ready "
                    f"(log: {self.spec.log_path})",
                    self.log_tail(),
                )
            if self.spec.ready is None or self.spec.ready():
                self.ready_at = time.monotonic()
                return self.ready_at - (self.started_at or self.ready_at)
            if time.monotonic() >= deadline:
                raise ProcessFailedError(
                    f"{self.name} not ready after {limit:.0f}s (log: {self.spec.log_path})",
                    self.log_tail(),
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def signal(self, signum: int, *, group: bool = False) -> None:
        """Send ``signum`` to the leader (or to its whole process group)."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self._proc.pid, signum)
            else:
                self._proc.send_signal(signum)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the leader to exit; its status, or None on timeout."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM, wait ``grace`` (default ``spec.stop_grace``), then SIGKILL; reaps everything."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait(self.spec.stop_grace if grace is None else grace) is None:
                self.signal(signal.SIGKILL, group=True)
                self._proc.wait()
        self._reap_group()
        self._close_log()
        return self._proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the whole process group at once (fault injection); reaps the leader."""
        if self._proc is None:
            return None
        self.signal(signal.SIGKILL, group=True)
        self._proc.wait()
        self._reap_group()
        self._close_log()
        return self._proc.returncode

    def restart(self, *, wait_ready: bool = True) -> Self:
        """Stop (gracefully) and start again with the same spec."""
        self.stop()
        self.start()
        if wait_ready:
            self.wait_ready()
        return self

    def group_pids(self) -> list[int]:
        """PIDs of the leader and every live descendant."""
        if self._proc is None or self._proc.poll() is not None:
            return []
        import psutil

        try:
            parent = psutil.Process(self._proc.pid)
            return [parent.pid, *(child.pid for child in parent.children(recursive=True))]
        except psutil.Error:
            return []

    def rss_bytes(self, *, children: bool = True) -> int:
        """Resident memory of the leader (plus its descendants) in bytes; 0 once exited."""
        import psutil

        total = 0
        pids = self.group_pids() if children else ([self.pid] if self.running else [])
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                total += int(psutil.Process(pid).memory_info().rss)
        return total

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.spec.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _reap_group(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _started_already(self) -> bool:
        return self.running

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited({self.returncode})"
        pid = self._proc.pid if self._proc is not None else None
        return f"<ManagedProcess {self.name} pid={pid} {state}>"


def stop_all(processes: Sequence[ManagedProcess], grace: float | None = None) -> None:
    """SIGTERM all at once, then wait for each (SIGKILL after its grace)."""
    for proc in processes:
        if proc.running:
            proc.signal(signal.SIGTERM)
    errors: list[BaseException] = []
    for proc in processes:
        try:
            proc.stop(grace)
        except Exception as exc:  # keep reaping the others
            errors.append(exc)
    if errors:
        raise errors[0]
