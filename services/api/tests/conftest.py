"""Registers the fixtures of api_testkit and of the producer library's producer_testkit."""

pytest_plugins = ["execlog_db.testing", "producer_testkit", "api_testkit"]
