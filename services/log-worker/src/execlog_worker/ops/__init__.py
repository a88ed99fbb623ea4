"""Upkeep of the execution_logs table: schema migrations, daily partitions, retention."""
