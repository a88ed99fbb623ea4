"""The log-worker's real ingest entry point, on a real migrated database, accepts every valid
golden fixture (storing it verbatim) and rejects every invalid one with the expected reason,
without raising; fixtures of every supported schema version still pass (compatibility), and
batches of schema 1.0 (no trace context) and 1.1 (trace_id, span_id) are both stored."""

from __future__ import annotations

import json
import math
from typing import Any
from uuid import uuid4

import pytest

from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import SUPPORTED_MAJORS, batch_to_wire, decode_batch
from execlog_schema.fixtures import Fixture, fixture_majors, iter_invalid, iter_valid
from execlog_schema.models import LogBatch
from execlog_worker.ingest.batch import ingest
from execlog_worker.ingest.writer import LogWriter

pytestmark = pytest.mark.timeout(120)

SUPPORTED_FIXTURE_MAJORS = [m for m in fixture_majors() if m in SUPPORTED_MAJORS]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality, numbers compared as numbers (jsonb keeps them as numeric)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(float(a), float(b), rel_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def _stored(writer: LogWriter) -> dict[str, Any]:
    rows = await writer.pool.fetch(
        "SELECT id, created_at, execution_id, workflow_id, node_id, component, level, message,"
        " payload, attempt, trace_id, span_id, batch_id, schema_version FROM execution_logs"
    )
    return {str(row["id"]): row for row in rows}


def _differences(batch: LogBatch, stored: dict[str, Any]) -> list[str]:
    problems = []
    for record in batch.records:
        row = stored.get(str(record.id))
        if row is None:
            problems.append(f"{record.id}: not stored")
            continue
        payload = row["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        expected = {
            "created_at": record.created_at,
            "execution_id": record.execution_id,
            "workflow_id": record.workflow_id,
            "node_id": record.node_id,
            "component": record.component,
            "level": record.level.value,
            "message": record.message,
            "attempt": record.attempt,
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "batch_id": batch.batch_id,
            "schema_version": batch.schema_version,
        }
        for column, value in expected.items():
            if row[column] != value:
                problems.append(f"{record.id}.{column}: stored {row[column]!r} != {value!r}")
        if not _same_json(payload, record.payload):
            problems.append(f"{record.id}.payload differs")
    return problems


async def _ingest_valid(fixture: Fixture, writer: LogWriter) -> list[str]:
    await writer.pool.execute("TRUNCATE execution_logs")
    try:
        result = await ingest(fixture.data, writer, source="contract")
    except Exception as exc:
        return [f"{fixture.id}: raised {type(exc).__name__}: {exc}"]
    count = len(fixture.data["records"])
    if (result.status, result.records, result.written) != ("written", count, count):
        return [f"{fixture.id}: {result}"]
    batch = decode_batch(fixture.data)
    return [f"{fixture.id}: {p}" for p in _differences(batch, await _stored(writer))]


async def test_contract_worker_accepts_and_stores_every_valid_fixture(writer: LogWriter) -> None:
    assert SUPPORTED_FIXTURE_MAJORS, "no fixtures for any supported schema major"
    problems: list[str] = []
    seen = 0
    for major in SUPPORTED_FIXTURE_MAJORS:
        for fixture in iter_valid(major):
            seen += 1
            problems += await _ingest_valid(fixture, writer)
    assert seen >= 10
    assert problems == []


async def test_contract_worker_reads_schema_1_0_and_1_1_batches(writer: LogWriter) -> None:
    old = next(f for f in iter_valid(1) if f.name == "maximal")
    traced = next(f for f in iter_valid(1) if f.name == "trace_context")
    assert (old.data["schema_version"], traced.data["schema_version"]) == ("1.0", "1.1")
    assert not any("trace_id" in r for r in old.data["records"])
    built = new_batch(
        [
            new_record(
                execution_id=uuid4(),
                level="INFO",
                message="traced",
                component="runner",
                trace_id=int(TRACE_ID, 16),
                span_id=SPAN_ID,
            )
        ],
        make_producer("contract", "0"),
    )
    assert built.schema_version == "1.1"
    stored = []
    for data in (old.data, traced.data, batch_to_wire(built)):
        await writer.pool.execute("TRUNCATE execution_logs")  # the fixtures share record ids
        result = await ingest(data, writer, source="contract")
        assert (result.status, result.written) == ("written", len(data["records"])), result
        rows = await writer.pool.fetch(
            "SELECT schema_version, trace_id, span_id FROM execution_logs ORDER BY created_at"
        )
        stored.append([tuple(r) for r in rows])
    assert stored == [
        [("1.0", None, None)] * len(old.data["records"]),
        [
            ("1.1", TRACE_ID, SPAN_ID),
            ("1.1", TRACE_ID, "0000000000000001"),
            ("1.1", None, None),
            ("1.1", None, None),
        ],
        [("1.1", TRACE_ID, SPAN_ID)],
    ]


async def test_contract_worker_is_idempotent_on_redelivery(writer: LogWriter) -> None:
    fixture = next(f for f in iter_valid() if f.name == "maximal")
    first = await ingest(fixture.data, writer, source="contract")
    again = await ingest(fixture.data, writer, source="contract")
    assert (first.written, again.written, again.duplicates) == (3, 0, 3)


async def test_contract_worker_rejects_every_invalid_fixture_with_its_reason(
    writer: LogWriter,
) -> None:
    problems: list[str] = []
    seen = 0
    for major in SUPPORTED_FIXTURE_MAJORS:
        for fixture in iter_invalid(major):
            seen += 1
            try:
                result = await ingest(fixture.data, writer, source="contract")
            except Exception as exc:
                problems.append(f"{fixture.id}: raised {type(exc).__name__}: {exc}")
                continue
            if result.status != "rejected":
                problems.append(f"{fixture.id}: status {result.status}")
            elif (fixture.expect_reason or "<no expected reason>") not in (result.reason or ""):
                problems.append(
                    f"{fixture.id}: reason {result.reason!r} lacks {fixture.expect_reason!r}"
                )
            elif result.reject_id is None:
                problems.append(f"{fixture.id}: no dead-letter row")
    assert seen >= 30
    assert problems == []
    assert await writer.pool.fetchval("SELECT count(*) FROM execution_logs") == 0
    rejects = await writer.pool.fetch("SELECT kind, reason FROM execution_log_rejects")
    assert {row["kind"] for row in rejects} == {"invalid"}
    assert all(row["reason"] for row in rejects)


async def test_contract_every_valid_fixture_as_a_newer_minor_is_still_accepted(
    writer: LogWriter,
) -> None:
    problems: list[str] = []
    for major in SUPPORTED_FIXTURE_MAJORS:
        for fixture in iter_valid(major):
            data = fixture.data
            data["schema_version"] = f"{major}.999"
            data["added_in_a_future_minor"] = {"x": 1}
            data["producer"]["added_too"] = True
            for record in data["records"]:
                record["baggage"] = "abc"
            result = await ingest(data, writer, source="contract")
            if result.status != "written":
                problems.append(f"{fixture.id}: {result.status} {result.reason}")
    assert problems == []


async def test_contract_fixtures_of_unsupported_majors_are_rejected_not_crashed(
    writer: LogWriter,
) -> None:
    for fixture in iter_valid(max(SUPPORTED_MAJORS)):
        data = fixture.data
        data["schema_version"] = f"{max(SUPPORTED_MAJORS) + 1}.0"
        result = await ingest(data, writer, source="contract")
        assert result.status == "rejected"
        assert result.reason is not None
        assert result.reason.startswith(f"unsupported schema_version '{data['schema_version']}'")
    for major in fixture_majors():
        if major not in SUPPORTED_MAJORS:
            for fixture in iter_valid(major):
                result = await ingest(fixture.data, writer, source="contract")
                assert result.status == "rejected"
