"""ManagedProcess: readiness by HTTP polling, SIGTERM then SIGKILL, group kill, log tails."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from execlog_stack.errors import ProcessFailedError
from execlog_stack.ports import free_port
from execlog_stack.process import ManagedProcess, ProcessSpec, http_ready, python_env
from execlog_stack.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

HTTP_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass
print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *a: print("ignoring TERM", flush=True))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("CHILDPID", child.pid, flush=True)
time.sleep(600)
"""


def _dead(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _spec(tmp_path: Path, name: str, code: str, *args: str, **kw: object) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-c", code, *args],
        env=python_env({}),
        log_path=tmp_path / f"{name}.log",
        **kw,  # type: ignore[arg-type]
    )


def test_http_readiness_and_clean_stop(tmp_path: Path) -> None:
    port = free_port()
    spec = _spec(
        tmp_path,
        "http",
        HTTP_SERVER,
        str(port),
        ready=http_ready(f"http://127.0.0.1:{port}/readyz"),
    )
    with ManagedProcess(spec) as proc:
        took = proc.wait_ready(timeout=20)
        assert took >= 0
        assert proc.running
        assert proc.rss_bytes() > 0
    assert not proc.running
    assert proc.returncode == -signal.SIGTERM
    assert "serving" in proc.log_text()


def test_stop_escalates_to_sigkill_and_reaps_children(tmp_path: Path) -> None:
    proc = ManagedProcess(_spec(tmp_path, "stubborn", STUBBORN, stop_grace=0.5)).start()
    deadline = time.monotonic() + 10
    while "CHILDPID " not in proc.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(proc.log_text().split("CHILDPID ")[-1].split()[0])
    began = time.monotonic()
    assert proc.stop() == -signal.SIGKILL
    assert time.monotonic() - began < 5
    assert "ignoring TERM" in proc.log_text()
    wait_for(lambda: _dead(child_pid), timeout=5, what="the child killed")


def test_kill_hits_the_whole_group(tmp_path: Path) -> None:
    proc = ManagedProcess(_spec(tmp_path, "victim", STUBBORN)).start()
    deadline = time.monotonic() + 10
    while "CHILDPID " not in proc.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(proc.log_text().split("CHILDPID ")[-1].split()[0])
    assert proc.kill() == -signal.SIGKILL
    wait_for(lambda: _dead(child_pid), timeout=5, what="the child killed")


def test_death_before_ready_raises_with_log_tail(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "dies", "import sys; print('boom'); sys.exit(3)", ready=lambda: False)
    proc = ManagedProcess(spec).start()
    with pytest.raises(ProcessFailedError) as info:
        proc.wait_ready(timeout=20)
    assert "status 3" in str(info.value)
    assert "boom" in info.value.log_tail
    proc.stop()
