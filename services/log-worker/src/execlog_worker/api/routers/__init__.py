"""Routers of the HTTP API, one per domain."""
