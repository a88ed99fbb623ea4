"""Engine parts without a database: RetryPolicy, RetryService, runners (fake transport)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from producer_testkit import FakeSender
from pydantic import ValidationError

from execlog_api.engine.retry import RetryPolicy, RetryService, StepFailedError
from execlog_api.engine.runners import (
    EchoRunner,
    FailRunner,
    HostNotAllowedError,
    HttpRunner,
    SleepRunner,
    StepContext,
    StepError,
)
from execlog_api.step_specs import STEP_ADAPTER, EchoStep, FailStep, HttpStep, SleepStep
from execlog_producer.execution_logger import ExecutionLogger
from execlog_schema.models import LogLevel, LogRecord

MakeLogger = Callable[..., tuple[ExecutionLogger, FakeSender]]
EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-000000000005")


def shipped(logger: ExecutionLogger, sender: FakeSender) -> list[LogRecord]:
    logger.flush_sync(timeout=5)
    return [r for b in sender.batches for r in b.records]


def context(logger: ExecutionLogger, attempt: int = 1, max_attempts: int = 3) -> StepContext:
    return StepContext(
        execution_id=EXECUTION,
        workflow_id=None,
        node_id="node-1",
        position=0,
        attempt=attempt,
        max_attempts=max_attempts,
        logger=logger,
    )


def test_api_retry_policy_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=6, base=0.5, maximum=3.0, jitter=0.0)
    assert [policy.delay(a) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(base=1.0, maximum=10.0, jitter=0.1)
    assert all(0.9 <= jittered.delay(1) <= 1.1 for _ in range(50))


async def test_api_retry_service_retries_then_succeeds(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    calls: list[int] = []

    async def flaky(ctx: StepContext) -> str:
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise StepError("not yet", {"try": ctx.attempt})
        return "done"

    policy = RetryPolicy(max_attempts=3, base=0.1, maximum=1.0, jitter=0.0)
    result = await RetryService(fake_sleep).run(lambda a: context(logger, a), flaky, policy)
    assert result == ("done", 3)
    assert calls == [1, 2, 3]
    assert slept == [0.1, 0.2]
    records = shipped(logger, sender)
    assert [r.level for r in records] == [LogLevel.WARNING, LogLevel.WARNING]
    assert [r.attempt for r in records] == [1, 2]
    assert records[0].component == "retry_service"
    assert records[0].payload["error"]["details"] == {"try": 1}
    assert records[0].payload["retry_in_seconds"] == 0.1


async def test_api_retry_service_gives_up_with_error_payload(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)

    async def no_sleep(seconds: float) -> None:
        return None

    async def broken(ctx: StepContext) -> None:
        raise RuntimeError("kaput")

    with pytest.raises(StepFailedError) as info:
        await RetryService(no_sleep).run(
            lambda a: context(logger, a), broken, RetryPolicy(max_attempts=2, jitter=0.0)
        )
    assert info.value.attempts == 2
    assert isinstance(info.value.last, RuntimeError)
    last = shipped(logger, sender)[-1]
    assert last.level == LogLevel.ERROR
    assert last.message == "step node-1 failed after 2 attempt(s): kaput"
    assert last.payload["error"]["type"] == "RuntimeError"
    assert "RuntimeError: kaput" in last.payload["error"]["traceback"]


async def test_api_sleep_and_echo_runners_log_start_and_end(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    slept = await SleepRunner().run(context(logger), SleepStep(kind="sleep", seconds=0.01))
    echoed = await EchoRunner().run(
        context(logger), EchoStep(kind="echo", message="hi", data={"password": "p", "a": 1})
    )
    assert slept["slept_seconds"] >= 0.01
    assert echoed == {"message": "hi", "data": {"password": "p", "a": 1}}
    records = shipped(logger, sender)
    assert [r.message for r in records] == ["sleep 0.01s started", "sleep done", "hi"]
    assert records[2].payload == {"password": "[REDACTED]", "a": 1}
    assert {r.node_id for r in records} == {"node-1"}


async def test_api_fail_runner_fails_the_first_attempts_only(make_logger: MakeLogger) -> None:
    logger, _ = make_logger()
    spec = FailStep(kind="fail", fail_times=2)
    for attempt in (1, 2):
        with pytest.raises(StepError, match="on purpose"):
            await FailRunner().run(context(logger, attempt), spec)
    assert await FailRunner().run(context(logger, 3), spec) == {"passed_on_attempt": 3}
    with pytest.raises(StepError):
        await FailRunner().run(context(logger, 99), FailStep(kind="fail"))


async def test_api_http_runner_statuses_and_errors(make_logger: MakeLogger) -> None:
    logger, sender = make_logger(buffer_size=1000, flush_interval=60)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        code = int(request.url.path.strip("/") or 200)
        return httpx.Response(code, text="body")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        runner = HttpRunner(client, allowed_hosts=frozenset({"svc"}))

        def step(path: str, **kw: Any) -> HttpStep:
            return HttpStep.model_validate({"kind": "http", "url": f"http://svc{path}", **kw})

        ok = await runner.run(
            context(logger),
            step("/200", method="POST", body={"x": 1}, headers={"Authorization": "Bearer s"}),
        )
        assert ok["status_code"] == 200
        assert ok["body_preview"] == "body"
        assert seen[0].content == b'{"x":1}'
        with pytest.raises(StepError, match="answered 503"):
            await runner.run(context(logger), step("/503"))
        accepted = await runner.run(context(logger), step("/404", expect_status=[404]))
        assert accepted["status_code"] == 404
        with pytest.raises(StepError, match="ConnectError"):
            await runner.run(context(logger), step("/down"))
        with pytest.raises(HostNotAllowedError):
            await runner.run(
                context(logger), HttpStep.model_validate({"kind": "http", "url": "http://evil/"})
            )
    first = shipped(logger, sender)[0]
    assert first.payload["headers"] == {"Authorization": "[REDACTED]"}


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "sleep", "seconds": 61},
        {"kind": "sleep", "seconds": float("nan")},
        {"kind": "echo"},
        {"kind": "fail", "fail_times": -1},
        {"kind": "http", "url": "ftp://x/"},
        {"kind": "http", "url": "http://x/", "headers": {"bad header": "v"}},
        {"kind": "http", "url": "http://x/", "method": "TRACE"},
        {"kind": "sleep", "seconds": 1, "max_attempts": 0},
        {"kind": "unknown"},
    ],
)
def test_api_step_specs_reject_bad_input(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        STEP_ADAPTER.validate_python(data)
