"""Alembic environment of the log-worker (run through execlog_db.migrations.upgrade)."""

from alembic import context

from execlog_db.migrations import run_env

run_env(context, target_metadata=None, version_table="alembic_version_log_worker")
