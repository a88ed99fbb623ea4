"""A private PostgreSQL cluster (initdb + pg_ctl), and the answers-probe of a given server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from execlog_stack.postgres import PostgresServer, postgres_answers

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def pg_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="execlog-stack-pg-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_private_cluster_starts_answers_and_stops(pg_root: Path) -> None:
    server = PostgresServer(pg_root / "pg")
    with server:
        assert server.initialized
        assert postgres_answers(server.url())
    assert not postgres_answers(server.url(), timeout=0.5)
    server.start()
    try:
        assert postgres_answers(server.url())
    finally:
        server.stop()


def test_answers_false_when_nothing_listens() -> None:
    assert not postgres_answers("postgresql://postgres@127.0.0.1:1/postgres", timeout=0.5)
