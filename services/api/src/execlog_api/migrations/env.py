"""Alembic environment of the API's own database (run through execlog_db.migrations)."""

from alembic import context

from execlog_api.db.models import Base
from execlog_db.migrations import run_env

VERSION_TABLE = "alembic_version_execlog_api"

run_env(context, target_metadata=Base.metadata, version_table=VERSION_TABLE)
