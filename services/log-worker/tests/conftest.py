"""Registers this directory's fixtures (defined in worker_testkit, a module with a unique name)."""

pytest_plugins = ["execlog_db.testing", "worker_testkit"]
