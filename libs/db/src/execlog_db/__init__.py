"""Async SQLAlchemy/asyncpg plumbing shared by the execlog services."""

from execlog_db._version import __version__

__all__ = ["__version__"]
