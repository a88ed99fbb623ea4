"""Trace context columns of execution_logs (schema 1.1): trace_id and span_id, nullable.

Added on the partitioned parent, so every partition gets them (the daily ones, DEFAULT, and
those ``partitions ensure`` creates later with ``LIKE execution_logs``). A nullable column
without a default is a catalog change only: no partition is rewritten. No index: the read API
filters trace_id within one execution, which the (execution_id, created_at, id) index narrows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE execution_logs ADD COLUMN trace_id text, ADD COLUMN span_id text")
    op.execute(
        "COMMENT ON COLUMN execution_logs.trace_id IS "
        "'W3C trace-id (32 lowercase hex) of the span active at log time; null without one'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE execution_logs DROP COLUMN span_id, DROP COLUMN trace_id")
