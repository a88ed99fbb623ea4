"""FastAPI integration: the app owns an ExecutionLogger for the length of its lifespan.

Only this module imports FastAPI; ``import execlog_producer`` never does, so a service without
FastAPI pays nothing for it.

.. code-block:: python

    from fastapi import FastAPI
    from execlog_producer import ProducerSettings
    from execlog_producer.fastapi import ExecutionLoggerDep, install

    app = FastAPI(lifespan=my_lifespan)        # any lifespan of its own, or none
    install(app, ProducerSettings())           # one call

    @app.post("/runs/{run_id}")
    async def run(run_id: UUID, logger: ExecutionLoggerDep) -> None:
        logger.info(run_id, "run started")

- :func:`install` wraps the app's existing lifespan (``app.router.lifespan_context``, which it
  keeps and runs, with whatever state it yields): the logger starts before the app's own
  startup code and is drained after the app's own shutdown code, so both can log. Draining is
  ``await logger.flush(timeout=shutdown_timeout)`` (what is still buffered ships, or goes to the
  disk spool when no transport answers), then ``close()`` (run off the loop, ``aclose``), which
  ships or spools anything left: nothing buffered is lost at a clean shutdown.
- :func:`lifespan` is the same for an app that builds its own lifespan:
  ``FastAPI(lifespan=lifespan(settings))``, or ``async with lifespan(settings)(app): ...``
  inside one.
- The logger lives on ``app.state`` under :data:`STATE_NAME` (``app.state.execlog_logger``);
  :data:`ExecutionLoggerDep` hands it to a route.

``shutdown_timeout`` is that of ``settings`` (``EXECLOG_SHUTDOWN_TIMEOUT``), else the logger's
own (``logger.config.shutdown_timeout``). A logger built from settings serves one lifespan run:
when the same app starts again (a second ``TestClient(app)`` block), a fresh one is built from the
same settings and replaces it on ``app.state``. A logger passed in (``logger=``) is owned by the
app as well (started and closed by it) and cannot start again once closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from starlette.applications import Starlette

from execlog_producer.execution_logger import ExecutionLogger
from execlog_producer.from_settings import logger_from_settings
from execlog_producer.settings import ProducerSettings

__all__ = [
    "STATE_NAME",
    "ExecutionLoggerDep",
    "get_execution_logger",
    "install",
    "lifespan",
]

STATE_NAME = "execlog_logger"
"""The ``app.state`` attribute holding the app's logger (``app.state.execlog_logger``)."""

_log = structlog.get_logger("execlog_producer.fastapi")


class _Owner:
    """The logger of one app: built from settings (again after a close) or given."""

    def __init__(self, settings: ProducerSettings | None, logger: ExecutionLogger | None) -> None:
        self._settings = settings
        self._given = logger
        self.logger = logger

    def current(self) -> ExecutionLogger:
        """The logger to run now: a fresh one from settings if none yet or the last is closed."""
        if self.logger is None or (self.logger.closed and self._given is None):
            self.logger = logger_from_settings(self._settings)
        return self.logger

    def shutdown_timeout(self, logger: ExecutionLogger) -> float:
        if self._settings is not None:
            return self._settings.shutdown_timeout
        return logger.config.shutdown_timeout

    @asynccontextmanager
    async def run(self, app: Starlette) -> AsyncIterator[None]:
        """Start the logger, publish it on ``app.state``; on exit drain and close it."""
        logger = self.current()
        if logger.closed:
            raise RuntimeError(
                "the ExecutionLogger given to execlog_producer.fastapi is closed; a logger passed "
                "with logger= serves one app lifespan (pass settings to get a fresh one per run)"
            )
        setattr(app.state, STATE_NAME, logger)
        logger.start()
        try:
            yield
        finally:
            await _drain(logger, self.shutdown_timeout(logger))


async def _drain(logger: ExecutionLogger, timeout: float) -> None:
    """``flush`` bounded by ``timeout``, then ``close`` (off the loop) whatever happened."""
    try:
        await logger.flush(timeout=timeout)
    except TimeoutError:
        _log.warning(
            "execlog_shutdown_flush_timeout", timeout=timeout, buffered=logger.buffer.depth
        )
    finally:
        await logger.aclose(timeout)


def install(
    app: FastAPI,
    settings: ProducerSettings | None = None,
    *,
    logger: ExecutionLogger | None = None,
) -> ExecutionLogger:
    """Make ``app`` own an ExecutionLogger and return it.

    The logger is ``logger`` if given, else built from ``settings`` (default: read from the
    ``EXECLOG_*`` variables) by :func:`~execlog_producer.logger_from_settings`. It is stored on
    ``app.state.execlog_logger`` (:data:`STATE_NAME`) at once, started when the app's lifespan
    starts and drained when it stops, around the app's own lifespan, which is kept (see the
    module doc). Raises RuntimeError when called twice on one app.
    """
    if getattr(app.state, STATE_NAME, None) is not None:
        raise RuntimeError("execlog_producer.fastapi.install() was already called on this app")
    owner = _Owner(settings, logger)
    current = owner.current()
    setattr(app.state, STATE_NAME, current)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan_with_logger(app_: Any) -> AsyncIterator[Any]:
        async with owner.run(app), inner(app_) as state:
            yield state

    app.router.lifespan_context = lifespan_with_logger
    return current


def lifespan(
    settings: ProducerSettings | None = None, *, logger: ExecutionLogger | None = None
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan that runs an ExecutionLogger for an app: ``FastAPI(lifespan=lifespan(s))``.

    Inside an app's own lifespan: ``async with lifespan(settings)(app): yield``. The logger
    (``logger``, else one built from ``settings`` at each start) is on
    ``app.state.execlog_logger`` from startup on; it is drained and closed on exit.
    """
    return _Owner(settings, logger).run


def get_execution_logger(request: Request) -> ExecutionLogger:
    """The logger of the app serving ``request`` (the dependency behind ExecutionLoggerDep).

    Raises RuntimeError naming ``install(app)`` when the app has none: a wiring mistake,
    reported at the first request that needs the logger, never turned into an HTTP error
    response by this function.
    """
    logger = getattr(request.app.state, STATE_NAME, None)
    if not isinstance(logger, ExecutionLogger):
        raise RuntimeError(
            "this app has no ExecutionLogger: call execlog_producer.fastapi.install(app) "
            "(or use execlog_producer.fastapi.lifespan()) before it serves requests"
        )
    return logger


ExecutionLoggerDep = Annotated[ExecutionLogger, Depends(get_execution_logger)]
"""A route parameter typed ``ExecutionLoggerDep`` receives the app's ExecutionLogger."""
