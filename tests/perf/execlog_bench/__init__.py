"""execlog performance harness: ``python -m execlog_bench`` (see tests/perf/README.md).

Sections: the cost of ``log()`` on the caller, end-to-end throughput against plain COPY,
log-to-visible latency, the API under load, and the worker's write paths compared. Every
figure is a median of several runs with min/max; nothing here is a pass/fail test.
"""
