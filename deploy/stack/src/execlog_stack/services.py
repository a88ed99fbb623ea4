"""Command lines and environments of the execlog services, from sources or from their PEXes.

Libraries never import services: a :class:`Launcher` runs ``sys.executable -m execlog_api``
(sources on the path) or the PEX file that ``./pants package`` writes, and every command line
is the one the systemd units run (``execlog-api.pex serve``, ``execlog-worker.pex worker`` ...),
configured only through the environment variables each service's settings read. This module is
the one place that knows those names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from execlog_stack.errors import StackError

API_MODULE = "execlog_api"
WORKER_MODULE = "execlog_worker"
API_PEX = Path("services.api/execlog-api.pex")
WORKER_PEX = Path("services.log-worker/execlog-worker.pex")
"""Where ``./pants package`` writes each service's PEX, relative to ``dist/``."""


@dataclass(frozen=True)
class Launcher:
    """How the services' commands start: the argv prefix of each service."""

    api: tuple[str, ...]
    worker: tuple[str, ...]
    sources: bool
    """True when the children import the services from this process's sys.path."""

    @classmethod
    def from_sources(cls) -> Launcher:
        """``python -m execlog_api`` / ``python -m execlog_worker`` (sources on PYTHONPATH)."""
        return cls(
            api=(sys.executable, "-m", API_MODULE),
            worker=(sys.executable, "-m", WORKER_MODULE),
            sources=True,
        )

    @classmethod
    def from_pex(cls, dist: Path) -> Launcher:
        """The PEXes under ``dist`` (``./pants package``'s layout), each run as an executable."""
        paths = (dist / API_PEX, dist / WORKER_PEX)
        for path in paths:
            if not os.access(path, os.X_OK):
                raise StackError(
                    f"{path}: no executable PEX here; build it with "
                    "`./pants package services/api:: services/log-worker::`"
                )
        api, worker = (str(path.resolve()) for path in paths)
        return cls(api=(api,), worker=(worker,), sources=False)


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


def api_argv(launcher: Launcher, command: str) -> list[str]:
    """``execlog-api <command>``: ``serve`` or ``migrate``, as the systemd units run them."""
    return [*launcher.api, command]


def worker_argv(launcher: Launcher, command: str) -> list[str]:
    """``execlog-worker <command>``: ``worker``, ``api``, ``flower`` or ``migrate``."""
    return [*launcher.worker, command]


def api_env(infra: Infra, opts: ApiOptions) -> dict[str, str]:
    """Environment variables the API reads (its settings.py), ``opts.env`` last."""
    env = {
        "HOST": opts.host,
        "PORT": str(opts.port),
        "WORKERS": str(opts.workers),
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
        if opts.hostname:
            env["WORKER_HOSTNAME"] = opts.hostname
            env["WORKER_CONCURRENCY"] = str(opts.concurrency)
        if opts.visibility_timeout is not None:
            env[VISIBILITY_TIMEOUT_ENV] = str(opts.visibility_timeout)
        env.update(opts.env)
    return env


VISIBILITY_TIMEOUT_ENV = "BROKER_VISIBILITY_TIMEOUT"
"""Name of log-worker's visibility-timeout setting (seconds)."""


def worker_api_env(host: str, port: int) -> dict[str, str]:
    """Where log-worker's HTTP API listens (added to :func:`worker_env`)."""
    return {"API_HOST": host, "API_PORT": str(port)}


def flower_env(host: str, port: int, basic_auth: str) -> dict[str, str]:
    """Where Flower listens and its login (added to :func:`worker_env`)."""
    return {"FLOWER_ADDRESS": host, "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": basic_auth}
