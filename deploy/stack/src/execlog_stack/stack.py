"""The whole execlog system as one object: infrastructure, databases, migrations, processes.

Both the local launcher (``execlog_local.up``) and the end-to-end tests drive this class::

    with Stack(StackConfig(workdir=Path(".local/stack"))) as stack:
        print(stack.api_url)

:meth:`Stack.start` ensures Redis and PostgreSQL (the given URLs when they answer, else
servers of our own), creates the two databases (API and logs), runs both services'
migrations in parallel, then starts log-worker's API, its Celery worker(s), the API and
optionally Flower, and waits until each is ready. :meth:`Stack.stop` stops the API first
(SIGTERM: it flushes its buffer), waits until the queue is drained, then the workers and
the rest; it always reaps every process, also after a failed start.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import redis
from sqlalchemy.engine import make_url

from execlog_db.admin import create_database, database_exists, database_url_for, drop_database
from execlog_schema.wire import QUEUE_NAME
from execlog_stack import services
from execlog_stack.broker import BrokerClient
from execlog_stack.errors import ProcessFailedError, StackError
from execlog_stack.lifecycle import Lifecycle
from execlog_stack.ports import free_port
from execlog_stack.postgres import PostgresServer, postgres_answers
from execlog_stack.process import (
    ManagedProcess,
    ProcessSpec,
    http_ready,
    python_env,
    stop_all,
)
from execlog_stack.proxy import TcpProxy
from execlog_stack.redis_server import RedisServer, redis_answers

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SCRUBBED_ENV_PREFIXES: tuple[str, ...] = (
    "DATABASE_URL",
    "REDIS_",
    "BROKER_",
    "RESULT_BACKEND",
    "LOG_",
    "DB_",
    "CELERY_",
    "WORKER_",
    "FLOWER_",
    "TASK_",
    "RETRY_",
    "PARTITION_",
    "RETENTION_",
    "STREAM_",
    "API_",
    "WRITE_METHOD",
    "PROMETHEUS_MULTIPROC_DIR",
    "SHUTDOWN_GRACE",
    "SERVICE_NAME",
    "HTTP_STEP_",
    "MAX_STEPS_",
    "STEP_DEFAULT_",
    "STEP_RETRY_",
)
"""Settings a child must not inherit from the caller's environment (the stack sets its own)."""

_log = logging.getLogger("execlog_stack")


def _scrubbed_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(SCRUBBED_ENV_PREFIXES)}


@dataclass
class StackConfig:
    """What to run. Defaults suit a test; the launcher overrides ports, names and reuse."""

    workdir: Path
    database_url: str | None = None
    redis_url: str | None = None
    own_redis: bool = False
    own_postgres: bool = False
    host: str = "127.0.0.1"
    api_port: int | None = None
    worker_api_port: int | None = None
    flower: bool = False
    flower_port: int | None = None
    workers: int = 1
    worker_concurrency: int = 2
    api_workers: int = 1
    visibility_timeout: float | None = None
    key_prefix: str | None = None
    database_prefix: str | None = None
    reuse_databases: bool = False
    drop_databases: bool = True
    delete_keys: bool = False
    logs_db_via_proxy: bool = False
    worker_redis_via_proxy: bool = False
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    flower_basic_auth: str = field(default_factory=lambda: f"execlog:{secrets.token_urlsafe(12)}")
    spool_dir: Path | None = None
    api_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    api_stop_grace: float = 45.0
    worker_stop_grace: float = 30.0
    drain_timeout: float = 30.0
    start_api: bool = True
    launcher: services.Launcher = field(default_factory=services.Launcher.from_sources)


class Stack(Lifecycle):
    """One running execlog system (see the module doc)."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.id = uuid.uuid4().hex[:10]
        self.workdir = config.workdir.resolve()
        self.log_dir = self.workdir / "logs"
        self.spool_dir = (config.spool_dir or self.workdir / "spool").resolve()
        self.key_prefix = (
            config.key_prefix if config.key_prefix is not None else f"execlog-{self.id}:"
        )
        self.database_prefix = config.database_prefix or f"execlog_{self.id}"
        self.api_database = f"{self.database_prefix}_api"
        self.logs_database = f"{self.database_prefix}_logs"
        self.redis: RedisServer | None = None
        self.postgres: PostgresServer | None = None
        self.db_proxy: TcpProxy | None = None
        self.redis_url = ""
        self.database_server_url = ""
        self.api_database_url = ""
        self.logs_database_url = ""
        self.worker_database_url = ""
        host = config.host
        self.api_port = config.api_port or free_port(host)
        self.worker_api_port = config.worker_api_port or free_port(host)
        self.flower_port = (config.flower_port or free_port(host)) if config.flower else None
        self.api: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.worker_api: ManagedProcess | None = None
        self.flower: ManagedProcess | None = None
        self._created_databases: list[str] = []
        self._broker: BrokerClient | None = None
        self.redis_proxy: TcpProxy | None = None
        self.worker_redis_url = ""
        self._worker_seq = 0
        self._lock = threading.Lock()
        self.timings: dict[str, float] = {}

    @property
    def api_url(self) -> str:
        """Base URL of the API service."""
        return f"http://{self.config.host}:{self.api_port}"

    @property
    def worker_api_url(self) -> str:
        """Base URL of log-worker's HTTP API."""
        return f"http://{self.config.host}:{self.worker_api_port}"

    @property
    def flower_url(self) -> str | None:
        """Flower's URL when it runs."""
        return None if self.flower_port is None else f"http://{self.config.host}:{self.flower_port}"

    @property
    def infra(self) -> services.Infra:
        """Where Redis and the databases of this stack are (as the API sees them)."""
        return services.Infra(
            redis_url=self.redis_url,
            broker_key_prefix=self.key_prefix,
            api_database_url=self.api_database_url,
            logs_database_url=self.worker_database_url or self.logs_database_url,
            api_token=self.config.api_token,
        )

    @property
    def worker_infra(self) -> services.Infra:
        """Where Redis and the databases are as log-worker's processes see them (proxies)."""
        return dataclasses.replace(self.infra, redis_url=self.worker_redis_url)

    def urls(self) -> dict[str, str]:
        """Every endpoint worth printing."""
        urls = {
            "api": self.api_url,
            "api docs": f"{self.api_url}/docs",
            "log-worker api": self.worker_api_url,
            "redis": self.redis_url,
            "api database": self.api_database_url,
            "logs database": self.logs_database_url,
        }
        if self.flower_url:
            urls["flower"] = f"{self.flower_url} (basic auth {self.config.flower_basic_auth})"
        return urls

    def start(self) -> Self:
        """Bring everything up; on any failure stop what started and re-raise."""
        try:
            self._timed("infra", self.ensure_infra)
            self._timed("databases", self.create_databases)
            self._timed("migrations", self.migrate)
            self._timed("processes", self.start_processes)
        except BaseException:
            self.stop()
            raise
        return self

    def _timed(self, name: str, step: Callable[[], None]) -> None:
        began = time.monotonic()
        step()
        self.timings[name] = time.monotonic() - began

    def ensure_infra(self) -> None:
        """Find or start Redis and PostgreSQL; start the database proxy when asked."""
        cfg = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        redis_url = cfg.redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        if cfg.own_redis or not redis_answers(redis_url):
            if not cfg.own_redis:
                _log.warning("Redis at %s does not answer: starting a private one", redis_url)
            self.redis = RedisServer(self.workdir / "redis", host=cfg.host).start()
            redis_url = self.redis.url()
        self.redis_url = redis_url
        self.worker_redis_url = redis_url
        if cfg.worker_redis_via_proxy:
            parsed_redis = urlsplit(redis_url)
            self.redis_proxy = TcpProxy(
                parsed_redis.hostname or "127.0.0.1", parsed_redis.port or 6379
            ).start()
            self.worker_redis_url = self.redis_proxy.url_for(redis_url)
        db_url = cfg.database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        if cfg.own_postgres or not postgres_answers(db_url):
            if not cfg.own_postgres:
                _log.warning("PostgreSQL at %s does not answer: starting a private one", db_url)
            self.postgres = PostgresServer(self.workdir / "postgres", host=cfg.host).start()
            db_url = self.postgres.url()
        self.database_server_url = db_url
        self.api_database_url = database_url_for(db_url, self.api_database)
        self.logs_database_url = database_url_for(db_url, self.logs_database)
        self.worker_database_url = self.logs_database_url
        if cfg.logs_db_via_proxy:
            parsed = make_url(self.logs_database_url)
            self.db_proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432).start()
            self.worker_database_url = self.db_proxy.url_for(self.logs_database_url)

    def create_databases(self) -> None:
        """Create the API and logs databases (kept when ``reuse_databases`` and present)."""
        for name in (self.api_database, self.logs_database):
            if self.config.reuse_databases and database_exists(self.database_server_url, name):
                continue
            drop_database(self.database_server_url, name)
            create_database(self.database_server_url, name)
            self._created_databases.append(name)

    def migrate(self) -> None:
        """Run both services' migrations at once (each service's ``migrate`` command)."""
        infra = self.infra
        direct = services.Infra(
            redis_url=infra.redis_url,
            broker_key_prefix=infra.broker_key_prefix,
            api_database_url=self.api_database_url,
            logs_database_url=self.logs_database_url,
            api_token=infra.api_token,
        )
        jobs = [
            ManagedProcess(
                ProcessSpec(
                    name="migrate-api",
                    argv=services.api_argv(self.config.launcher, "migrate"),
                    env=self._env(services.api_env(direct, self._api_options())),
                    log_path=self.log_dir / "migrate-api.log",
                )
            ),
            ManagedProcess(
                ProcessSpec(
                    name="migrate-log-worker",
                    argv=services.worker_argv(self.config.launcher, "migrate"),
                    env=self._env(services.worker_env(direct)),
                    log_path=self.log_dir / "migrate-log-worker.log",
                )
            ),
        ]
        for job in jobs:
            job.start()
        failed: list[ManagedProcess] = []
        for job in jobs:
            if job.wait(timeout=180) is None:
                job.kill()
            job.stop()
            if job.returncode != 0:
                failed.append(job)
        if failed:
            job = failed[0]
            raise ProcessFailedError(
                f"{job.name} exited with status {job.returncode} (log: {job.spec.log_path})",
                job.log_tail(),
            )

    def _env(self, overrides: Mapping[str, str]) -> dict[str, str]:
        if self.config.launcher.sources:
            return python_env(overrides, base=_scrubbed_environ())
        # A PEX carries its own code: nothing of this process's path may leak into it.
        base = {k: v for k, v in _scrubbed_environ().items() if not k.startswith("PYTHON")}
        return {**base, "PYTHONUNBUFFERED": "1", **overrides}

    def _api_options(self) -> services.ApiOptions:
        cfg = self.config
        return services.ApiOptions(
            host=cfg.host,
            port=self.api_port,
            workers=cfg.api_workers,
            worker_url=self.worker_api_url,
            spool_dir=str(self.spool_dir),
            env=cfg.api_env,
        )

    def api_spec(self, env: Mapping[str, str] | None = None) -> ProcessSpec:
        """How the API process runs (``env`` adds to ``config.api_env``)."""
        opts = self._api_options()
        return ProcessSpec(
            name="api",
            argv=services.api_argv(self.config.launcher, "serve"),
            env=self._env({**services.api_env(self.infra, opts), **(env or {})}),
            log_path=self.log_dir / "api.log",
            ready=http_ready(f"{self.api_url}/readyz"),
            ready_timeout=self.config.ready_timeout,
            stop_grace=self.config.api_stop_grace,
        )

    def worker_spec(
        self,
        hostname: str | None = None,
        *,
        concurrency: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ProcessSpec:
        """How one Celery worker runs; readiness is a Celery ping answered by that node."""
        with self._lock:
            self._worker_seq += 1
            seq = self._worker_seq
        node = hostname or f"logs{seq}-{self.id}@{socket.gethostname()}"
        opts = services.WorkerOptions(
            hostname=node,
            concurrency=concurrency or self.config.worker_concurrency,
            visibility_timeout=self.config.visibility_timeout,
            env={**self.config.worker_env, **(env or {})},
        )
        return ProcessSpec(
            name=f"worker-{seq}",
            argv=services.worker_argv(self.config.launcher, "worker"),
            env=self._env(services.worker_env(self.worker_infra, opts)),
            log_path=self.log_dir / f"worker-{seq}.log",
            ready=self._celery_ping(node),
            ready_timeout=self.config.ready_timeout,
            stop_grace=self.config.worker_stop_grace,
            tags={"hostname": node},
        )

    @property
    def broker(self) -> BrokerClient:
        """A Celery client of this stack's broker (direct, never through a proxy)."""
        if self._broker is None:
            self._broker = BrokerClient(self.redis_url, self.key_prefix, name=f"stack-{self.id}")
        return self._broker

    def _celery_ping(self, node: str) -> Callable[[], bool]:
        return lambda: self.broker.ping(node)

    def worker_api_spec(self) -> ProcessSpec:
        """How log-worker's HTTP API runs."""
        return ProcessSpec(
            name="log-worker-api",
            argv=services.worker_argv(self.config.launcher, "api"),
            env=self._env(
                {
                    **services.worker_env(self.worker_infra, self._worker_options()),
                    **services.worker_api_env(self.config.host, self.worker_api_port),
                }
            ),
            log_path=self.log_dir / "log-worker-api.log",
            ready=http_ready(f"{self.worker_api_url}/readyz"),
            ready_timeout=self.config.ready_timeout,
            stop_grace=self.config.worker_stop_grace,
        )

    def flower_spec(self) -> ProcessSpec:
        """How Flower runs."""
        assert self.flower_port is not None
        return ProcessSpec(
            name="flower",
            argv=services.worker_argv(self.config.launcher, "flower"),
            env=self._env(
                {
                    **services.worker_env(self.worker_infra, self._worker_options()),
                    **services.flower_env(
                        self.config.host, self.flower_port, self.config.flower_basic_auth
                    ),
                }
            ),
            log_path=self.log_dir / "flower.log",
            ready=http_ready(f"{self.flower_url}/healthcheck"),
            ready_timeout=self.config.ready_timeout,
            stop_grace=5.0,
        )

    def _worker_options(self) -> services.WorkerOptions:
        return services.WorkerOptions(
            hostname="",
            visibility_timeout=self.config.visibility_timeout,
            env=self.config.worker_env,
        )

    def start_processes(self) -> None:
        """Start log-worker's API, the workers, the API and Flower; wait until all are ready."""
        procs: list[ManagedProcess] = []
        self.worker_api = ManagedProcess(self.worker_api_spec())
        procs.append(self.worker_api)
        for _ in range(self.config.workers):
            worker = ManagedProcess(self.worker_spec())
            self.workers.append(worker)
            procs.append(worker)
        if self.config.start_api:
            self.api = ManagedProcess(self.api_spec())
            procs.append(self.api)
        if self.flower_port is not None:
            self.flower = ManagedProcess(self.flower_spec())
            procs.append(self.flower)
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready()

    def start_api(
        self, env: Mapping[str, str] | None = None, *, wait: bool = True
    ) -> ManagedProcess:
        """(Re)start the API process (after a stop or a kill); same port, same spool."""
        if self.api is not None and self.api.running:
            raise StackError("the API is already running")
        self.api = ManagedProcess(self.api_spec(env))
        self.api.start()
        if wait:
            self.api.wait_ready()
        return self.api

    def add_worker(
        self,
        hostname: str | None = None,
        *,
        concurrency: int | None = None,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> ManagedProcess:
        """Start one more Celery worker on the same queue."""
        worker = ManagedProcess(self.worker_spec(hostname, concurrency=concurrency, env=env))
        self.workers.append(worker)
        worker.start()
        if wait:
            worker.wait_ready()
        return worker

    def api_logger_state(self) -> dict[str, Any]:
        """The ExecutionLogger snapshot the API reports in /readyz (buffer depth, spool...)."""
        response = httpx.get(f"{self.api_url}/readyz", timeout=5.0)
        state: dict[str, Any] = response.json().get("checks", {}).get("logger", {})
        return state

    def api_metric(self, name: str, **labels: str) -> float:
        """Sum of the API's Prometheus samples called ``name`` matching ``labels`` (0 if none)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.api_url}/metrics", timeout=5.0).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += float(sample.value)
        return total

    def redis_client(self) -> redis.Redis:
        """A client of this stack's Redis (keys are NOT prefixed for you)."""
        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)

    def queue_depth(self) -> int:
        """Messages waiting in the ``logs`` queue plus those delivered but not yet acked."""
        client = self.redis_client()
        try:
            total = 0
            for key in client.scan_iter(match=f"{self.key_prefix}{QUEUE_NAME}*", count=200):
                if client.type(key) == b"list":
                    total += int(client.llen(key))
            total += int(client.hlen(f"{self.key_prefix}unacked"))
            return total
        finally:
            client.close()

    def delete_keys(self) -> int:
        """Delete every Redis key under this stack's prefix (never the whole database)."""
        if not self.key_prefix:
            return 0
        client = self.redis_client()
        try:
            keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=500))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            return len(keys)
        finally:
            client.close()

    def wait_queue_drained(self, timeout: float | None = None) -> bool:
        """Poll until :meth:`queue_depth` is 0; False on timeout or when Redis is gone."""
        limit = self.config.drain_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            try:
                if self.queue_depth() == 0:
                    return True
            except redis.RedisError:
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def stop(self, say: Callable[[str], None] | None = None) -> None:
        """Stop in order (API, drain, workers, the rest, own servers); reaps everything.

        ``say`` gets a short line before each step (the launcher prints them).
        """
        errors: list[BaseException] = []
        tell = say or (lambda _line: None)

        def attempt(step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as exc:
                errors.append(exc)

        if self.api is not None and self.api.running:
            tell("stopping the API (SIGTERM: running executions finish, its log buffer flushes)")
        if self.api is not None:
            attempt(self.api.stop)
        if any(w.running for w in self.workers) and self.redis_url:
            tell("waiting until the workers drained the logs queue")
            attempt(self.wait_queue_drained)
        if any(w.running for w in self.workers):
            tell("stopping the log workers")
        attempt(lambda: stop_all(self.workers))
        others = [p for p in (self.worker_api, self.flower) if p is not None]
        attempt(lambda: stop_all(others))
        if self.db_proxy is not None:
            attempt(self.db_proxy.close)
        if self.redis_proxy is not None:
            attempt(self.redis_proxy.close)
        if self._broker is not None:
            attempt(self._broker.close)
            self._broker = None
        if self.config.delete_keys and self.redis is None and self.redis_url:
            attempt(self.delete_keys)
        if self.redis is not None:
            tell("stopping our Redis")
            attempt(self.redis.stop)
        if self.config.drop_databases and self.database_server_url and self._created_databases:
            tell("dropping the databases")
            server = self.database_server_url
            for name in self._created_databases:
                attempt(functools.partial(drop_database, server, name))
            self._created_databases.clear()
        if self.postgres is not None:
            tell("stopping our PostgreSQL")
            attempt(self.postgres.stop)
        if errors:
            _log.warning("errors while stopping the stack: %s", "; ".join(map(str, errors)))

    @property
    def holds_resources(self) -> bool:
        """Whether anything was started or created that :meth:`stop` must undo."""
        return bool(
            self.all_processes()
            or self.redis
            or self.postgres
            or self.db_proxy
            or self.redis_proxy
            or self._created_databases
        )

    def kill_all(self) -> None:
        """SIGKILL every service process at once (second Ctrl-C); servers stop normally."""
        for proc in self.all_processes():
            proc.kill()

    def all_processes(self) -> list[ManagedProcess]:
        """Every service process this stack started (running or not)."""
        procs = [p for p in (self.api, self.worker_api, self.flower) if p is not None]
        return [*procs, *self.workers]
