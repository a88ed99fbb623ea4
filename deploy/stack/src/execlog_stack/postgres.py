"""PostgreSQL for the stack: use a given server when it answers, else run a private cluster.

The private cluster lives in a data folder (the launcher uses ``.local/postgres`` of the
repo), listens on 127.0.0.1 only with trust authentication for user ``postgres`` and no
Unix socket. PostgreSQL refuses to run as root: when we are root, initdb and pg_ctl run
as the ``postgres`` system user (through runuser), which then owns the data folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Self

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_db.url import to_asyncpg_dsn
from execlog_stack.binaries import find_pg_bindir
from execlog_stack.errors import StackError
from execlog_stack.lifecycle import Lifecycle
from execlog_stack.ports import free_port

SUPERUSER = "postgres"


async def postgres_answers_async(url: str, *, timeout: float = 2.0) -> bool:
    """Whether a PostgreSQL server at ``url`` accepts a connection and ``SELECT 1``."""
    try:
        conn = await asyncpg.connect(to_asyncpg_dsn(url), timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1") == 1)
    finally:
        await conn.close()


def postgres_answers(url: str, *, timeout: float = 2.0) -> bool:
    """Sync form of :func:`postgres_answers_async` (usable inside a running loop, too)."""
    from execlog_db._sync import run_sync

    return run_sync(postgres_answers_async(url, timeout=timeout))


def _run_as_owner(argv: list[str], owner: str | None) -> list[str]:
    if owner is None:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise StackError(
            "PostgreSQL cannot run as root and runuser is missing: "
            "install the Debian package 'util-linux' or run as a normal user"
        )
    return [runuser, "-u", owner, "--", *argv]


def _owner_for_root() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise StackError(
            "PostgreSQL cannot run as root and there is no 'postgres' user: "
            "install the Debian package 'postgresql' (it creates that user) or run as a normal user"
        ) from exc
    return SUPERUSER


class PostgresServer(Lifecycle):
    """A private PostgreSQL cluster in ``data_dir`` on ``127.0.0.1:port`` (trust auth)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.bindir = find_pg_bindir()
        self.owner = _owner_for_root()
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    def url(self, database: str = "postgres") -> str:
        """``postgresql://postgres@host:port/database`` of this cluster."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _run(self, argv: list[str], timeout: float = 120.0) -> None:
        proc = subprocess.run(
            _run_as_owner(argv, self.owner),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip().splitlines()
            raise StackError(
                f"{Path(argv[0]).name} failed ({proc.returncode}): "
                f"{output[-1] if output else 'no output'}"
            )

    def _prepare_dirs(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            entry = pwd.getpwnam(self.owner)
            for path in (self.data_dir.parent, *self.data_dir.parent.parents):
                if not path.stat().st_mode & 0o001:
                    raise StackError(
                        f"the '{self.owner}' user cannot enter {path} (PostgreSQL runs as that "
                        f"user when we are root): put the data folder elsewhere or chmod o+x {path}"
                    )
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.log_path.touch(exist_ok=True)
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)

    @property
    def initialized(self) -> bool:
        """Whether ``data_dir`` already holds a cluster."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb (once): UTF-8, trust auth for local TCP, superuser ``postgres``."""
        if self.initialized:
            return
        self._prepare_dirs()
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )

    def start(self) -> Self:
        """initdb if needed, then ``pg_ctl start -w`` on our port."""
        self.init()
        self._prepare_dirs()
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=200"
        )
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (no-op when not running)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])
