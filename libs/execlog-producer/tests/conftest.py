"""Registers this directory's fixtures (defined in producer_testkit, a uniquely named module)."""

pytest_plugins = ["producer_testkit"]
