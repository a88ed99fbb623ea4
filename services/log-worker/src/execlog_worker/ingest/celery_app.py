"""The Celery application of the log-worker, configured from Settings.

``celery -A execlog_worker.ingest.celery_app worker`` works, but ``execlog-worker worker`` (same
app) is the supported entry point. Pool: prefork; each child gets its own event loop and
asyncpg pool after fork (see ``execlog_worker.ingest.child_runtime``). No celery-pool-asyncio.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from execlog_broker.celery_factory import celery_app_for
from execlog_service.log_setup import configure_logging, get_logger
from execlog_worker.ingest.child_runtime import init_runtime, shutdown_runtime
from execlog_worker.ingest.tasks import register_tasks
from execlog_worker.metrics import mark_process_dead
from execlog_worker.settings import Settings, get_settings

log = get_logger(__name__)


def worker_transport_options(settings: Settings) -> dict[str, Any]:
    """The worker's kombu transport options, added to the shared ones of the factory."""
    return {
        # acks_late + Redis: an unacked message comes back only after this many seconds, so
        # it must outlast the hard time limit plus the longest retry countdown (validated).
        "visibility_timeout": settings.broker_visibility_timeout,
        "socket_connect_timeout": settings.broker_connect_timeout,
        "socket_timeout": settings.broker_socket_timeout,
        # Detects half-open connections (NAT, failover) before a blocking read hangs.
        "health_check_interval": 25,
        "retry_on_timeout": True,
        "unacked_restore_throttle": 1,  # scan every sweep (kombu default: every 10th = 100 s)
    }


def worker_conf(settings: Settings) -> dict[str, Any]:
    """The worker's Celery settings beyond the factory's, with the reason for each."""
    conf: dict[str, Any] = {
        # Keep trying a broker that is down (one log line per attempt), at start and later.
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_channel_error_retry": True,
        # Ack after the write committed, so a crash mid-task redelivers instead of losing.
        "task_acks_late": True,
        # A child killed mid-task (OOM, SIGKILL) requeues its message instead of dropping it.
        "task_reject_on_worker_lost": True,
        # A hard time limit kill requeues too (the write is idempotent); the default acks.
        "task_acks_on_timeout": False,
        # Messages reserved per child (16 by default): the window the coalescing strategy
        # writes from, many queued messages in one COPY. Reserved messages stay unacked, so
        # a killed worker's come back after the visibility timeout (duplicates absorbed by
        # the idempotent write). WORKER_PREFETCH_MULTIPLIER=1 with WORKER_COALESCE=false is
        # the naive one-message-per-task worker of BENCHMARKS.md.
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        # Recycle children to bound slow leaks (WORKER_MAX_TASKS_PER_CHILD, 1000 tasks).
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        # Fire-and-forget: no result writes unless a backend is configured.
        "result_backend": settings.result_backend,
        "task_ignore_result": settings.result_backend is None,
        "task_store_errors_even_if_ignored": False,
        # On broker connection loss, stop running tasks: their messages are redelivered
        # anyway (unacked), so finishing them would only duplicate work.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_send_task_events": settings.worker_send_task_events,
        # We configure logging ourselves (structlog), Celery must not replace it.
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
    }
    if settings.worker_concurrency:
        conf["worker_concurrency"] = settings.worker_concurrency
    return conf


_signal_settings: Settings | None = None


def _settings() -> Settings:
    return _signal_settings or get_settings()


def _setup_logging(loglevel: Any = None, logfile: str | None = None, **_: Any) -> None:
    s = _settings()
    configure_logging(s.log_format, loglevel or s.log_level, logfile or s.worker_logfile)


def _child_init(**_: Any) -> None:
    init_runtime(_settings())


def _child_shutdown(**_: Any) -> None:
    try:
        shutdown_runtime()
    finally:
        mark_process_dead(os.getpid())


signals.setup_logging.connect(_setup_logging)
signals.worker_process_init.connect(_child_init)
signals.worker_process_shutdown.connect(_child_shutdown)


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app for ``settings`` (environment by default) with the task registered."""
    global _signal_settings
    settings = settings or get_settings()
    _signal_settings = settings
    app = celery_app_for(
        settings,
        "execlog_worker",
        transport=worker_transport_options(settings),
        set_as_current=True,
        **worker_conf(settings),
    )
    register_tasks(app, settings)
    return app


def parse_worker_argv(app: Celery, argv: list[str]) -> str:
    """Parse ``argv`` (``["worker", ...]``) with Celery's own worker command, without running it.

    The same parser ``app.worker_main(argv)`` runs: an unknown option or a bad value raises
    ValueError with Celery's message. Returns the argv as one string.
    """
    import click
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker as worker_command

    name, *args = argv
    context = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    try:
        worker_command.make_context(name, list(args), obj=context)
    except click.ClickException as exc:
        raise ValueError(exc.format_message()) from None
    return " ".join(argv)


_default_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    """``app`` (for ``celery -A execlog_worker.ingest.celery_app``), made on first access."""
    global _default_app
    if name == "app":
        if _default_app is None:
            _default_app = create_app()
        return _default_app
    raise AttributeError(name)
