"""HTTP API of the log-worker: read (filters, keyset pages, live tail), synchronous ingest."""
