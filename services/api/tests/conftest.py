"""Registers this directory's fixtures (defined in api_testkit, a module with a unique name)."""

pytest_plugins = ["execlog_db.testing", "api_testkit"]
