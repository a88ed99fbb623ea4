"""Registers this directory's fixtures (defined in contract_testkit, a module with a unique name)."""

pytest_plugins = ["execlog_db.testing", "contract_testkit"]
