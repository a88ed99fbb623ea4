"""Throwaway databases and Redis prefixes for the artifact tests (execlog_db's fixtures)."""

pytest_plugins = ["execlog_db.testing"]
