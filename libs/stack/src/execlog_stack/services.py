"""Command lines and environments of the execlog services, launched by module name.

Libraries never import services: everything here runs ``sys.executable -m execlog_api ...``
or ``sys.executable -m execlog_worker ...`` with the environment variables each service's
settings read. This module is the one place that knows those names.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

API_MODULE = "execlog_api"
WORKER_MODULE = "execlog_worker"


@dataclass(frozen=True)
class Infra:
    """Where the shared infrastructure of one stack is."""

    redis_url: str
    broker_key_prefix: str
    api_database_url: str
    logs_database_url: str
    api_token: str


@dataclass(frozen=True)
class ApiOptions:
    """Options of the API process."""

    host: str
    port: int
    workers: int = 1
    worker_url: str = ""
    spool_dir: str = ""
    buffer_size: int | None = None
    flush_interval: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerOptions:
    """Options of one Celery worker process of log-worker."""

    hostname: str
    concurrency: int = 2
    visibility_timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def module_argv(module: str, *args: str) -> list[str]:
    """``[sys.executable, "-m", module, *args]``."""
    return [sys.executable, "-m", module, *args]


def api_migrate_argv() -> list[str]:
    """Apply the API's migrations to its DATABASE_URL."""
    return module_argv(API_MODULE, "migrate")


def worker_migrate_argv() -> list[str]:
    """Apply log-worker's migrations (the logs table) to its DATABASE_URL."""
    return module_argv(WORKER_MODULE, "migrate")


def api_serve_argv(opts: ApiOptions) -> list[str]:
    """Run the API's HTTP server."""
    return module_argv(
        API_MODULE,
        "serve",
        "--host",
        opts.host,
        "--port",
        str(opts.port),
        "--workers",
        str(opts.workers),
    )


def worker_argv(opts: WorkerOptions) -> list[str]:
    """Run one Celery worker consuming the ``logs`` queue."""
    return module_argv(
        WORKER_MODULE,
        "worker",
        "--concurrency",
        str(opts.concurrency),
        "--hostname",
        opts.hostname,
    )


def worker_api_argv(host: str, port: int) -> list[str]:
    """Run log-worker's read/ingest HTTP API."""
    return module_argv(WORKER_MODULE, "api", "--host", host, "--port", str(port))


def flower_argv(host: str, port: int) -> list[str]:
    """Run Flower against the broker of log-worker."""
    return module_argv(WORKER_MODULE, "flower", "--address", host, "--port", str(port))


def api_env(infra: Infra, opts: ApiOptions) -> dict[str, str]:
    """Environment variables the API reads (its settings.py), ``opts.env`` last."""
    env = {
        "DATABASE_URL": infra.api_database_url,
        "REDIS_URL": infra.redis_url,
        "BROKER_KEY_PREFIX": infra.broker_key_prefix,
        "LOG_WORKER_URL": opts.worker_url,
        "LOG_API_TOKEN": infra.api_token,
        "LOG_SPOOL_DIR": opts.spool_dir,
    }
    if opts.buffer_size is not None:
        env["LOG_BUFFER_SIZE"] = str(opts.buffer_size)
    if opts.flush_interval is not None:
        env["LOG_FLUSH_INTERVAL"] = str(opts.flush_interval)
    env.update(opts.env)
    return env


def worker_env(infra: Infra, opts: WorkerOptions | None = None) -> dict[str, str]:
    """Environment variables log-worker reads (worker, its API, Flower, migrate)."""
    env = {
        "DATABASE_URL": infra.logs_database_url,
        "REDIS_URL": infra.redis_url,
        "BROKER_KEY_PREFIX": infra.broker_key_prefix,
        "LOG_API_TOKEN": infra.api_token,
    }
    if opts is not None:
        if opts.visibility_timeout is not None:
            env[VISIBILITY_TIMEOUT_ENV] = str(opts.visibility_timeout)
        env.update(opts.env)
    return env


VISIBILITY_TIMEOUT_ENV = "BROKER_VISIBILITY_TIMEOUT"
"""Name of log-worker's visibility-timeout setting (seconds)."""
