"""Registers this directory's fixtures (defined in contract_testkit, a uniquely named module)."""

pytest_plugins = ["execlog_db.testing", "contract_testkit"]
