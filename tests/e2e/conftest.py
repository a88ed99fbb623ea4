"""Registers this directory's fixtures (defined in e2e_testkit, a module with a unique name)."""

pytest_plugins = ["e2e_testkit"]
