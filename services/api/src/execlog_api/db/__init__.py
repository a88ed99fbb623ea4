"""The API's own database: executions and their steps (never the logs table)."""
