"""Locate server programs (redis-server, PostgreSQL's initdb/pg_ctl) or explain how to get them."""

from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path

from execlog_stack.errors import MissingBinaryError

PACKAGES: dict[str, str] = {
    "redis-server": "redis-server",
    "redis-cli": "redis-tools",
    "initdb": "postgresql",
    "pg_ctl": "postgresql",
    "postgres": "postgresql",
}

_PG_GLOB = "/usr/lib/postgresql/*/bin"


def _pg_dirs() -> list[str]:
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.name))

    return sorted(glob.glob(_PG_GLOB), key=version, reverse=True)


def find_binary(program: str, *, extra_dirs: list[str] | None = None) -> str:
    """Absolute path of ``program`` from PATH, then ``extra_dirs`` and /usr/lib/postgresql/*/bin."""
    found = shutil.which(program)
    if found:
        return found
    for directory in [*(extra_dirs or []), *_pg_dirs()]:
        candidate = os.path.join(directory, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    package = PACKAGES.get(program, program)
    searched = "PATH" if package != "postgresql" else f"PATH and {_PG_GLOB}"
    raise MissingBinaryError(program, package, searched)


def find_pg_bindir() -> Path:
    """Directory holding initdb, pg_ctl and postgres of one PostgreSQL installation."""
    initdb = Path(os.path.realpath(find_binary("initdb")))
    for program in ("pg_ctl", "postgres"):
        if not (initdb.parent / program).exists():
            find_binary(program)
    return initdb.parent
