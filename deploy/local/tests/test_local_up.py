"""The local launcher: port choice, repo root, and a real ``--demo`` run (whole stack)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from execlog_local.up import pick_port, repo_root
from execlog_stack.errors import StackError
from execlog_stack.process import python_env

pytestmark = pytest.mark.timeout(180)


def test_pick_port_prefers_the_usual_one_and_refuses_a_busy_request() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(StackError, match=f"port {busy}"):
            pick_port("api", "127.0.0.1", busy)
    assert pick_port("api", "127.0.0.1", 0) > 0


def test_repo_root_finds_pants_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pants.toml").write_text("")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert repo_root() == tmp_path.resolve()


def test_demo_run_accounts_for_every_record(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "execlog_local.up",
            "--demo",
            "4",
            "--records",
            "15",
            "--no-flower",
            "--api-port",
            "0",
            "--worker-api-port",
            "0",
            "--ephemeral",
            "--workdir",
            str(tmp_path / "stack"),
        ],
        env=python_env({"COLUMNS": "120"}),
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "produced" in output
    assert "stopped" in output
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in output.splitlines()
        if line.count("│") >= 3
    }
    assert lines.get("produced") == "60", output
    assert lines.get("stored") == "60", output
    assert lines.get("lost") == "0", output
    assert lines.get("duplicated") == "0", output
