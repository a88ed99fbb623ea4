"""Delivery of LogBatches: Celery sender, publisher child process, HTTP fallback, disk spool."""
