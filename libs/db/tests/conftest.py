"""Enable the throwaway-database plugin for the execlog_db tests."""

pytest_plugins = ["execlog_db.testing", "pytester"]
