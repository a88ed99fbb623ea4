"""HTTP API through httpx.AsyncClient + asgi-lifespan: real PostgreSQL (own database), real
Redis (own prefix), fake log-worker for the proxied reads."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
import structlog
from api_testkit import (
    FakeWorker,
    queued_messages,
    running_app,
    services_of,
    task_batches,
    wait_finished,
)
from asgi_lifespan import LifespanManager

from execlog_api.app import create_app
from execlog_api.logger import get_execution_logger
from execlog_api.settings import Settings
from execlog_schema.codec import decode_batch
from execlog_schema.models import LogRecord
from execlog_schema.payload import REDACTED
from execlog_schema.wire import QUEUE_NAME


def shipped_records(settings: Settings, execution_id: str) -> list[LogRecord]:
    messages = queued_messages(
        settings.redis_url or "", f"{settings.broker_key_prefix}{QUEUE_NAME}"
    )
    records = [r for wire in task_batches(messages) for r in decode_batch(wire).records]
    return [r for r in records if str(r.execution_id) == execution_id]


async def start(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post("/api/v1/executions", json=body)
    assert response.status_code == 202, response.text
    data = response.json()
    assert response.headers["location"] == f"/api/v1/executions/{data['id']}"
    assert data["status"] == "pending"
    return str(data["id"])


async def test_api_execution_runs_steps_in_order_with_retry_and_logs(
    api_settings: Settings,
) -> None:
    async with running_app(api_settings) as (client, app):
        execution_id = await start(
            client,
            {
                "name": "demo",
                "steps": [
                    {"kind": "echo", "message": "hello", "data": {"user": "ada", "token": "t0p"}},
                    {"kind": "sleep", "seconds": 0.05, "node_id": "nap"},
                    {"kind": "fail", "fail_times": 1, "max_attempts": 2},
                ],
            },
        )
        body = await wait_finished(client, execution_id)
        await services_of(app).logger.flush(timeout=10)
    assert body["status"] == "succeeded"
    steps = body["steps"]
    assert isinstance(steps, list)
    assert [s["status"] for s in steps] == ["succeeded"] * 3
    assert [s["node_id"] for s in steps] == ["echo-0", "nap", "fail-2"]
    assert [s["attempts"] for s in steps] == [1, 1, 2]
    assert steps[0]["output"] == {"message": "hello", "data": {"user": "ada", "token": "t0p"}}

    records = shipped_records(api_settings, execution_id)
    messages = [r.message for r in records]
    assert messages[0] == "execution started (3 steps)"
    assert messages[-1] == "execution succeeded"
    assert "hello" in messages
    echo = next(r for r in records if r.message == "hello")
    assert echo.payload == {"user": "ada", "token": REDACTED}
    retry = next(r for r in records if r.component == "retry_service")
    assert retry.level == "WARNING"
    assert retry.node_id == "fail-2"
    assert retry.attempt == 1
    assert retry.payload["error"]["message"] == "step failed on purpose"
    assert "retry_in_seconds" in retry.payload
    assert {r.component for r in records} == {"workflow_brain", "runner", "retry_service"}
    assert len({r.id for r in records}) == len(records)


async def test_api_failing_step_fails_execution_and_skips_rest(api_settings: Settings) -> None:
    async with running_app(api_settings) as (client, app):
        execution_id = await start(
            client,
            {
                "steps": [
                    {"kind": "fail", "message": "nope", "max_attempts": 2},
                    {"kind": "echo", "message": "never"},
                ]
            },
        )
        body = await wait_finished(client, execution_id)
        await services_of(app).logger.flush(timeout=10)
    assert body["status"] == "failed"
    steps = body["steps"]
    assert isinstance(steps, list)
    assert [s["status"] for s in steps] == ["failed", "skipped"]
    assert steps[0]["attempts"] == 2
    assert steps[0]["error"] == "nope"
    records = shipped_records(api_settings, execution_id)
    give_up = next(r for r in records if "failed after 2 attempt" in r.message)
    assert give_up.level == "ERROR"
    assert "Traceback" in give_up.payload["error"]["traceback"]
    assert "never" not in [r.message for r in records]


async def test_api_http_step_and_allowed_hosts(
    api_settings: Settings, fake_worker: FakeWorker
) -> None:
    async with running_app(api_settings) as (client, _app):
        ok = await start(client, {"steps": [{"kind": "http", "url": f"{fake_worker.url}/ok"}]})
        bad_status = await start(
            client,
            {
                "steps": [
                    {"kind": "http", "url": f"{fake_worker.url}/status/500", "max_attempts": 1}
                ]
            },
        )
        ok_body = await wait_finished(client, ok)
        bad_body = await wait_finished(client, bad_status)
        denied = await client.post(
            "/api/v1/executions",
            json={"steps": [{"kind": "http", "url": "http://example.com/"}]},
        )
    assert ok_body["status"] == "succeeded"
    output = ok_body["steps"][0]["output"]  # type: ignore[index]
    assert output["status_code"] == 200
    assert bad_body["status"] == "failed"
    assert denied.status_code == 422
    assert "HTTP_STEP_ALLOWED_HOSTS" in denied.json()["message"]


async def test_api_invalid_input_is_422_with_message(api_settings: Settings) -> None:
    bodies: list[Any] = [
        {},
        {"steps": []},
        {"steps": [{"kind": "teleport"}]},
        {"steps": [{"kind": "sleep", "seconds": -1}]},
        {"steps": [{"kind": "sleep", "seconds": 1, "extra": True}]},
        {"name": "a\x00b", "steps": [{"kind": "echo", "message": "x"}]},
        {"steps": [{"kind": "http", "url": "not a url"}]},
        [1, 2],
    ]
    async with running_app(api_settings) as (client, _app):
        for body in bodies:
            response = await client.post("/api/v1/executions", json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["message"].startswith("invalid request: ")
        broken = await client.post(
            "/api/v1/executions", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert broken.status_code == 422
        bad_id = await client.get("/api/v1/executions/not-a-uuid")
        assert bad_id.status_code == 422
        assert "execution_id" in bad_id.json()["message"]
        missing = await client.get(f"/api/v1/executions/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert "not found" in missing.json()["detail"]


async def test_api_logs_are_proxied_with_filters_and_token(
    api_settings: Settings, fake_worker: FakeWorker
) -> None:
    settings = api_settings.model_copy(update={"log_worker_url": fake_worker.url})
    async with running_app(settings) as (client, _app):
        execution_id = await start(client, {"steps": [{"kind": "echo", "message": "x"}]})
        response = await client.get(
            f"/api/v1/executions/{execution_id}/logs",
            params={
                "level": "WARNING",
                "since": "2024-01-01T00:00:00+00:00",
                "until": "2030-01-01T00:00:00Z",
                "node_id": "n1",
                "component": "runner",
                "q": "boom",
                "trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736",
                "order": "desc",
                "cursor": "abc",
                "limit": "10",
            },
            headers={"X-Request-ID": "req-proxied-7"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["tail_cursor"] == "t0"
        seen = fake_worker.requests[-1]
        assert seen["path"] == f"/v1/executions/{execution_id}/logs"
        assert seen["authorization"] == "Bearer test-token"
        # The log-worker logs the read under the API request's id.
        assert seen["request_id"] == "req-proxied-7"
        assert seen["params"] == {
            "level": "WARNING",
            "since": "2024-01-01T00:00:00+00:00",
            "until": "2030-01-01T00:00:00+00:00",
            "node_id": "n1",
            "component": "runner",
            "q": "boom",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "order": "desc",
            "cursor": "abc",
            "limit": "10",
        }
        bad_cursor = await client.get(
            f"/api/v1/executions/{execution_id}/logs", params={"cursor": "bad"}
        )
        assert bad_cursor.status_code == 400
        assert "invalid cursor" in bad_cursor.json()["detail"]
        calls = len(fake_worker.requests)
        for params in (
            {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
            {"since": "2024-01-01T00:00:00"},
            {"level": "LOUD"},
            {"limit": "0"},
            {"order": "sideways"},
            {"trace_id": "4bf92f35"},
            {"trace_id": "z" * 32},
        ):
            local = await client.get(f"/api/v1/executions/{execution_id}/logs", params=params)
            assert local.status_code == 422, (params, local.text)
        assert len(fake_worker.requests) == calls
        unknown = await client.get(f"/api/v1/executions/{uuid.uuid4()}/logs")
        assert unknown.status_code == 404
        fake_worker.status = 500
        upstream_error = await client.get(f"/api/v1/executions/{execution_id}/logs")
        assert upstream_error.status_code == 502
        fake_worker.status = 401
        refused = await client.get(f"/api/v1/executions/{execution_id}/logs")
        assert refused.status_code == 502
        assert "LOG_API_TOKEN" in refused.json()["detail"]


async def test_api_log_worker_down_is_503(api_settings: Settings) -> None:
    async with running_app(api_settings) as (client, _app):
        execution_id = await start(client, {"steps": [{"kind": "echo", "message": "x"}]})
        listing = await client.get(f"/api/v1/executions/{execution_id}/logs")
        stream = await client.get(f"/api/v1/executions/{execution_id}/logs/stream")
    for response in (listing, stream):
        assert response.status_code == 503
        assert "log-worker unreachable" in response.json()["detail"]


async def test_api_log_stream_relays_sse(api_settings: Settings, fake_worker: FakeWorker) -> None:
    settings = api_settings.model_copy(update={"log_worker_url": fake_worker.url})
    async with running_app(settings) as (client, _app):
        execution_id = await start(client, {"steps": [{"kind": "echo", "message": "x"}]})
        async with client.stream(
            "GET",
            f"/api/v1/executions/{execution_id}/logs/stream",
            params={"level": "INFO", "cursor": "c1"},
            headers={"last-event-id": "p7"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            text = (await response.aread()).decode()
    assert text.count("event: log") == 3
    assert "id: p2" in text
    seen = fake_worker.requests[-1]
    assert seen["last_event_id"] == "p7"
    assert seen["params"] == {"level": "INFO", "cursor": "c1"}
    assert seen["authorization"] == "Bearer test-token"


async def test_api_external_runner_logs_go_through_producer(api_settings: Settings) -> None:
    async with running_app(api_settings) as (client, app):
        execution_id = await start(client, {"steps": [{"kind": "echo", "message": "x"}]})
        response = await client.post(
            f"/api/v1/executions/{execution_id}/logs",
            json={
                "records": [
                    {"message": "ext one", "payload": {"api_key": "k", "n": 1}},
                    {"level": "ERROR", "message": "ext two", "node_id": "remote", "attempt": 3},
                ]
            },
        )
        assert response.status_code == 202, response.text
        ids = response.json()["ids"]
        unknown = await client.post(
            f"/api/v1/executions/{uuid.uuid4()}/logs", json={"records": [{"message": "x"}]}
        )
        empty = await client.post(f"/api/v1/executions/{execution_id}/logs", json={"records": []})
        await services_of(app).logger.flush(timeout=10)
    assert unknown.status_code == 404
    assert empty.status_code == 422
    records = {str(r.id): r for r in shipped_records(api_settings, execution_id)}
    one, two = records[ids[0]], records[ids[1]]
    assert one.component == "external"
    assert one.payload == {"api_key": REDACTED, "n": 1}
    assert two.level == "ERROR"
    assert two.node_id == "remote"
    assert two.attempt == 3


async def test_api_health_ready_metrics_and_request_id(api_settings: Settings) -> None:
    async with running_app(api_settings) as (client, _app):
        health = await client.get("/healthz", headers={"x-request-id": "req-42"})
        ready = await client.get("/readyz")
        await start(client, {"steps": [{"kind": "echo", "message": "x"}]})
        metrics = await client.get("/metrics")
        docs = await client.get("/openapi.json")
        singleton = get_execution_logger()
    assert singleton is services_of(_app).logger
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {}}
    assert health.headers["x-request-id"] == "req-42"
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["logger"]["running"] is True
    assert metrics.status_code == 200
    text = metrics.text
    assert "execlog_records_logged_total" in text
    assert 'execlog_records_dropped_total{reason="spool_failed"} 0.0' in text
    assert 'execlog_api_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    checkouts = re.search(r"^execlog_api_db_pool_wait_seconds_count (\S+)$", text, re.M)
    assert checkouts is not None
    assert float(checkouts.group(1)) >= 1
    assert "execlog_api_db_pool_timeouts_total 0.0" in text
    paths = docs.json()["paths"]
    for path in (
        "/api/v1/executions",
        "/api/v1/executions/{execution_id}",
        "/api/v1/executions/{execution_id}/logs",
        "/api/v1/executions/{execution_id}/logs/stream",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths


async def test_api_logs_deprecated_settings_at_start(
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL__POOL_TIMEOUT", "20")
    monkeypatch.setenv("RETRY_BACKOFF_BASE", "0.2")
    with pytest.warns(DeprecationWarning, match="DB_POOL__POOL_TIMEOUT is deprecated: use"):
        settings = Settings(**api_settings.model_dump(exclude={"db_pool_timeout"}))
    assert settings.db_pool_timeout == 20.0
    with structlog.testing.capture_logs() as logs:
        async with LifespanManager(create_app(settings, configure_logs=False), shutdown_timeout=60):
            pass
    assert [
        (e["old"], e["new"], e["ignored"]) for e in logs if e["event"] == "deprecated setting"
    ] == [
        ("DB_POOL__POOL_TIMEOUT", "DB_POOL_TIMEOUT", False),
        ("RETRY_BACKOFF_BASE", "STEP_RETRY_BACKOFF_BASE", True),
    ]


async def test_api_readyz_503_when_database_is_gone(api_settings: Settings) -> None:
    settings = api_settings.model_copy(
        update={"database_url": "postgresql://postgres@127.0.0.1:1/none"}
    )
    async with running_app(settings) as (client, _app):
        ready = await client.get("/readyz")
        read = await client.get(f"/api/v1/executions/{uuid.uuid4()}")
        create = await client.post(
            "/api/v1/executions", json={"steps": [{"kind": "echo", "message": "x"}]}
        )
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")
    assert read.status_code == 503
    assert create.status_code == 503
    assert "database unavailable" in create.json()["detail"]


async def test_api_shutdown_cancels_running_execution_and_flushes_logs(
    api_settings: Settings,
) -> None:
    settings = api_settings.model_copy(update={"shutdown_grace": 0.3, "log_flush_interval": 60})
    async with running_app(settings) as (client, app):
        execution_id = await start(
            client,
            {"steps": [{"kind": "echo", "message": "before"}, {"kind": "sleep", "seconds": 30}]},
        )
        await services_of(app).manager.wait(uuid.UUID(execution_id), timeout=0.5)
        logger = services_of(app).logger
    assert logger.closed
    assert logger.metrics.dropped_total() == 0
    records = shipped_records(settings, execution_id)
    messages = [r.message for r in records]
    assert "before" in messages
    assert "execution cancelled (service shutting down)" in messages
    async with running_app(settings) as (client, _app):
        body = (await client.get(f"/api/v1/executions/{execution_id}")).json()
    assert body["status"] == "cancelled"
    assert [s["status"] for s in body["steps"]] == ["succeeded", "cancelled"]
