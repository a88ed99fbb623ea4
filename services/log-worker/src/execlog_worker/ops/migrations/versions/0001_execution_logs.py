"""execution_logs (partitioned by day on created_at) and the execution_log_rejects dead letters.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE SEQUENCE execution_logs_seq AS bigint;

CREATE TABLE execution_logs (
    id               uuid        NOT NULL,
    created_at       timestamptz NOT NULL,
    execution_id     uuid        NOT NULL,
    workflow_id      uuid,
    node_id          text,
    component        text        NOT NULL,
    level            text        NOT NULL
        CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    message          text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    attempt          integer,
    batch_id         uuid        NOT NULL,
    schema_version   text        NOT NULL,
    producer_service text        NOT NULL,
    producer_version text        NOT NULL,
    producer_host    text        NOT NULL,
    producer_pid     integer     NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    seq              bigint      NOT NULL DEFAULT nextval('execution_logs_seq'),
    txid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

ALTER SEQUENCE execution_logs_seq OWNED BY execution_logs.seq;

COMMENT ON COLUMN execution_logs.txid IS
    'writing transaction; (txid, seq) below the writers'' watermark is a gap-free tail order';

CREATE INDEX ix_execution_logs_execution_time
    ON execution_logs (execution_id, created_at, id);
CREATE INDEX ix_execution_logs_execution_tail
    ON execution_logs (execution_id, txid, seq);

CREATE TABLE execution_logs_default PARTITION OF execution_logs DEFAULT;

CREATE TABLE execution_log_rejects (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('invalid', 'write_failed')),
    reason        text        NOT NULL,
    batch_id      uuid,
    raw_payload   text        NOT NULL,
    raw_sha256    text        NOT NULL,
    source        text        NOT NULL,
    task_id       text,
    occurrences   integer     NOT NULL DEFAULT 1,
    received_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    resolution    text
);

CREATE UNIQUE INDEX ux_execution_log_rejects_open
    ON execution_log_rejects (raw_sha256) WHERE resolved_at IS NULL;
CREATE INDEX ix_execution_log_rejects_received ON execution_log_rejects (received_at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS execution_log_rejects;
DROP TABLE IF EXISTS execution_logs;
"""


def _run(script: str) -> None:
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
