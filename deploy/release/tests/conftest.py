"""Registers this directory's fixtures (defined in release_testkit, a module with a unique name)."""

pytest_plugins = ["release_testkit"]
