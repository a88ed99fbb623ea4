"""The queue -> table path: Celery app and task, coalescing, child runtime, writes, dead letters."""
