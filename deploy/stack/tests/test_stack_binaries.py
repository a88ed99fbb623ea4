"""Locating server programs, and the one-line message when one is missing."""

from __future__ import annotations

import pytest

from execlog_stack.binaries import find_binary, find_pg_bindir
from execlog_stack.errors import MissingBinaryError


def test_finds_installed_servers() -> None:
    assert find_binary("redis-server").endswith("redis-server")
    assert (find_pg_bindir() / "pg_ctl").exists()


def test_missing_program_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("execlog_stack.binaries._PG_GLOB", "/nonexistent/*/bin")
    with pytest.raises(MissingBinaryError) as info:
        find_binary("redis-server")
    message = str(info.value)
    assert "\n" not in message
    assert "'redis-server'" in message
    with pytest.raises(MissingBinaryError, match="'postgresql'"):
        find_pg_bindir()
