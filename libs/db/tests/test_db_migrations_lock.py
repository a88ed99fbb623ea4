"""Two processes running upgrade() at once are serialised by the advisory lock."""

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from execlog_db.url import to_asyncpg_dsn

ENV_PY = """
from alembic import context
from execlog_db.migrations import run_env
run_env(context, target_metadata=None, version_table="alembic_version_dbtest")
"""

REVISION = '''
"""create a table without IF NOT EXISTS: running it twice would fail."""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT pg_sleep(0.7)")
    op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("widgets")
'''


def _script_dir(root: Path) -> Path:
    (root / "versions").mkdir(parents=True)
    (root / "env.py").write_text(ENV_PY)
    (root / "script.py.mako").write_text("")
    (root / "versions" / "0001_widgets.py").write_text(textwrap.dedent(REVISION))
    return root


async def _state(database_url: str) -> tuple[list[tuple[str]], bool]:
    conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
    try:
        versions = [
            tuple(r) for r in await conn.fetch("SELECT version_num FROM alembic_version_dbtest")
        ]
        table = bool(await conn.fetchval("SELECT to_regclass('widgets') IS NOT NULL"))
    finally:
        await conn.close()
    return versions, table


def test_db_migrations_concurrent_upgrade_no_collision(database_url: str, tmp_path: Path) -> None:
    scripts = _script_dir(tmp_path / "migs")
    code = (
        "import sys; from execlog_db.migrations import upgrade; "
        "upgrade(sys.argv[1], sys.argv[2], lock_key=4242)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(scripts), database_url],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert asyncio.run(_state(database_url)) == ([("0001",)], True)


async def test_db_migrations_upgrade_inside_running_loop(database_url: str, tmp_path: Path) -> None:
    from execlog_db.migrations import upgrade, upgrade_async

    scripts = _script_dir(tmp_path / "migs")
    upgrade(str(scripts), database_url, lock_key=1)
    await upgrade_async(str(scripts), database_url, lock_key=1)
    conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version_dbtest") == "0001"
    finally:
        await conn.close()
