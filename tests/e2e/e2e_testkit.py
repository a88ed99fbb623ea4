"""Fixtures of the end-to-end tests: one whole execlog stack per test, built by execlog_stack.

Each stack has its own two databases (dropped afterwards), its own Redis key prefix on the
shared server (deleted afterwards) or a Redis server of its own, and its own spool folder
under the test's tmp_path. Timings are shortened through the services' settings so fault
scenarios resolve in seconds; every test carries a pytest-timeout.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from execlog_stack.stack import Stack, StackConfig

API_TEST_ENV: dict[str, str] = {
    "LOG_FLUSH_INTERVAL": "0.2",
    "LOG_REPLAY_INTERVAL": "0.5",
    "BROKER_DOWN_BACKOFF": "0.2",
    "BROKER_DOWN_BACKOFF_MAX": "1.0",
    "SHUTDOWN_GRACE": "5",
    "LOG_SHUTDOWN_TIMEOUT": "20",
    "LOG_LEVEL": "INFO",
}
"""API settings of every e2e stack (fast flushes, fast broker probing after an outage)."""

WORKER_TEST_ENV: dict[str, str] = {
    "TASK_RETRY_BACKOFF_BASE": "0.2",
    "TASK_RETRY_BACKOFF_MAX": "1",
    "TASK_MAX_RETRIES": "100",
    "TASK_TIME_LIMIT": "20",
    "TASK_SOFT_TIME_LIMIT": "15",
    "BROKER_VISIBILITY_TIMEOUT": "60",
    "LOG_LEVEL": "INFO",
}
"""log-worker settings of every e2e stack (short retry backoff; no dead letter on outages)."""

SHORT_VISIBILITY_ENV: dict[str, str] = {
    "TASK_TIME_LIMIT": "4",
    "TASK_SOFT_TIME_LIMIT": "3",
    "BROKER_VISIBILITY_TIMEOUT": "6",
}
"""log-worker settings for redelivery tests: an unacked message comes back after 6 s."""

StackFactory = Callable[..., Stack]


@pytest.fixture()
def fast_redelivery() -> dict[str, str]:
    """log-worker env overrides for tests that need an unacked message back within seconds."""
    return dict(SHORT_VISIBILITY_ENV)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Keep each phase's report on the item, so fixtures know whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _dump_logs(stack: Stack) -> None:
    for proc in stack.all_processes():
        sys.stderr.write(f"\n----- {proc.name} ({proc.spec.log_path}) -----\n")
        sys.stderr.write(proc.log_tail(60) + "\n")


@pytest.fixture()
def make_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StackFactory]:
    """``make_stack(**StackConfig fields)`` starts a stack; all are stopped after the test.

    ``api_env`` / ``worker_env`` are merged over the e2e defaults above.
    """
    stacks: list[Stack] = []

    def make(**overrides: Any) -> Stack:
        api_env = {**API_TEST_ENV, **overrides.pop("api_env", {})}
        worker_env = {**WORKER_TEST_ENV, **overrides.pop("worker_env", {})}
        overrides.setdefault("worker_concurrency", 2)
        config = StackConfig(
            workdir=tmp_path / f"stack{len(stacks)}",
            database_prefix=f"etest_e2e_{uuid.uuid4().hex[:12]}",
            delete_keys=True,
            api_env=api_env,
            worker_env=worker_env,
            api_stop_grace=30.0,
            worker_stop_grace=15.0,
            drain_timeout=15.0,
            **overrides,
        )
        stack = Stack(config)
        stacks.append(stack)
        stack.start()
        return stack

    yield make
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    for stack in reversed(stacks):
        if failed:
            _dump_logs(stack)
        stack.stop()
