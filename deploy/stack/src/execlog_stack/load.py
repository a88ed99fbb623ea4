"""Load driver: produce log records through the API, then account for every one of them.

The driver starts executions (``POST /api/v1/executions``) and posts records for them
(``POST /api/v1/executions/{id}/logs``), each tagged in its payload with the run id and a
per-execution sequence number. Every id the API hands back goes into a :class:`Ledger`:
that is the set of records the producer promised to deliver. :meth:`LoadDriver.wait_stored`
then reads the logs database directly (asyncpg) until every produced id is stored or a
deadline passes, and :func:`compare` reports produced, stored, lost, duplicated and
unexpected records, the time to drain and the end-to-end latency (``received_at`` -
``created_at`` of each stored row).

Records of one execution are posted one request after the other, so their ids (UUIDv7,
made by the API in order) and their sequence numbers agree: reading an execution back in
id order must give sequence numbers 0, 1, 2, ...
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx

from execlog_db.url import to_asyncpg_dsn

RUN_KEY = "load_run"
SEQ_KEY = "seq"
DEFAULT_STEPS: list[dict[str, Any]] = [{"kind": "echo", "message": "load driver execution"}]
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Produced:
    """One record the API accepted: its id, execution and sequence number in that execution."""

    id: uuid.UUID
    execution_id: uuid.UUID
    seq: int


class Ledger:
    """Every record id the producer handed out (safe to share between tasks of one loop)."""

    def __init__(self) -> None:
        self.records: dict[uuid.UUID, Produced] = {}
        self.by_execution: dict[uuid.UUID, list[uuid.UUID]] = {}
        self.reissued: int = 0

    def add(self, execution_id: uuid.UUID, first_seq: int, ids: Sequence[uuid.UUID]) -> None:
        """Record ids returned for records ``first_seq, first_seq + 1, ...`` of an execution."""
        ordered = self.by_execution.setdefault(execution_id, [])
        for offset, record_id in enumerate(ids):
            if record_id in self.records:
                self.reissued += 1
                continue
            self.records[record_id] = Produced(record_id, execution_id, first_seq + offset)
            ordered.append(record_id)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> set[uuid.UUID]:
        """Every produced id."""
        return set(self.records)

    @property
    def executions(self) -> list[uuid.UUID]:
        """Executions that got at least one record (or were created by the driver)."""
        return list(self.by_execution)


@dataclass(frozen=True)
class StoredRow:
    """One stored record as read back (from the logs database or through the API)."""

    id: uuid.UUID
    execution_id: uuid.UUID
    run: str | None
    seq: int | None
    created_at: datetime | None = None
    received_at: datetime | None = None


@dataclass
class LoadReport:
    """Accounting of one load run; :attr:`ok` means exactly-once delivery."""

    produced: int
    stored: int
    lost: int
    duplicated: int
    unexpected: int
    produce_seconds: float = 0.0
    drain_seconds: float = 0.0
    request_errors: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)
    lost_ids: list[uuid.UUID] = field(default_factory=list, repr=False)
    duplicate_ids: list[uuid.UUID] = field(default_factory=list, repr=False)
    out_of_order: list[uuid.UUID] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing twice, nothing that was never produced."""
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0

    @property
    def throughput(self) -> float:
        """Stored records per second, from the first request until everything was stored."""
        total = self.produce_seconds + self.drain_seconds
        return self.stored / total if total > 0 else 0.0

    def latency(self, quantile: float) -> float | None:
        """Quantile (0..1) of end-to-end latency in seconds; None without data."""
        if not self.latencies:
            return None
        data = sorted(self.latencies)
        index = min(len(data) - 1, max(0, math.ceil(quantile * len(data)) - 1))
        return data[index]

    def summary(self) -> dict[str, str]:
        """The numbers as printable strings (for tables and assertion messages)."""

        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.0f} ms"

        mean = statistics.fmean(self.latencies) if self.latencies else None
        return {
            "produced": str(self.produced),
            "stored": str(self.stored),
            "lost": str(self.lost),
            "duplicated": str(self.duplicated),
            "unexpected": str(self.unexpected),
            "request errors": str(self.request_errors),
            "produce time": f"{self.produce_seconds:.2f} s",
            "drain time": f"{self.drain_seconds:.2f} s",
            "throughput": f"{self.throughput:.0f} records/s",
            "latency mean": secs(mean),
            "latency p50": secs(self.latency(0.50)),
            "latency p95": secs(self.latency(0.95)),
            "latency p99": secs(self.latency(0.99)),
            "latency max": secs(max(self.latencies) if self.latencies else None),
        }

    def __str__(self) -> str:
        text = ", ".join(f"{k}={v}" for k, v in self.summary().items())
        if self.lost_ids:
            text += f"; first lost: {[str(i) for i in self.lost_ids[:5]]}"
        if self.duplicate_ids:
            text += f"; first duplicated: {[str(i) for i in self.duplicate_ids[:5]]}"
        return text


def compare(ledger: Ledger, rows: Iterable[StoredRow], run_id: str) -> LoadReport:
    """Account stored rows against the ledger (rows of other runs are ignored).

    ``duplicated`` counts extra rows with an id already seen plus extra rows carrying the
    same (execution, seq) under another id; ``unexpected`` counts rows of this run whose id
    the producer never handed out (e.g. accepted by an API that died before answering).
    """
    produced = ledger.records
    seen: dict[uuid.UUID, int] = {}
    seq_seen: dict[tuple[uuid.UUID, int], uuid.UUID] = {}
    duplicate_ids: list[uuid.UUID] = []
    unexpected = 0
    latencies: list[float] = []
    for row in rows:
        if row.run != run_id:
            continue
        count = seen.get(row.id, 0)
        seen[row.id] = count + 1
        if count:
            duplicate_ids.append(row.id)
            continue
        if row.id not in produced:
            unexpected += 1
        if row.seq is not None:
            key = (row.execution_id, row.seq)
            if key in seq_seen and seq_seen[key] != row.id:
                duplicate_ids.append(row.id)
            else:
                seq_seen[key] = row.id
        if row.created_at is not None and row.received_at is not None:
            latencies.append((row.received_at - row.created_at).total_seconds())
    lost_ids = [record_id for record_id in produced if record_id not in seen]
    return LoadReport(
        produced=len(produced),
        stored=len(produced) - len(lost_ids),
        lost=len(lost_ids),
        duplicated=len(duplicate_ids),
        unexpected=unexpected,
        latencies=latencies,
        lost_ids=lost_ids,
        duplicate_ids=duplicate_ids,
    )


def check_order(
    ledger: Ledger, rows_by_execution: dict[uuid.UUID, list[StoredRow]]
) -> list[uuid.UUID]:
    """Executions whose rows (in the order given) do not list this run's records by seq."""
    bad: list[uuid.UUID] = []
    for execution_id, ids in ledger.by_execution.items():
        expected = [ledger.records[i].seq for i in ids]
        got = [r.seq for r in rows_by_execution.get(execution_id, []) if r.id in ledger.records]
        if got != sorted(expected):
            bad.append(execution_id)
    return bad


STORED_SQL = """
SELECT id, execution_id, payload->>'load_run' AS run, (payload->>'seq')::bigint AS seq,
       created_at, received_at
FROM execution_logs
WHERE execution_id = ANY($1::uuid[])
"""
COUNT_SQL = """
SELECT count(*) FROM execution_logs
WHERE execution_id = ANY($1::uuid[]) AND payload->>'load_run' = $2
"""
REJECTS_SQL = "SELECT kind, reason, batch_id FROM execution_log_rejects ORDER BY id"


class LogsDatabase:
    """Direct, read-only access to log-worker's tables (what is really stored)."""

    def __init__(self, url: str) -> None:
        self.dsn = to_asyncpg_dsn(url)

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.dsn, timeout=10)

    async def count(self, execution_ids: Sequence[uuid.UUID], run_id: str) -> int:
        """Rows of this run stored for these executions."""
        conn = await self._connect()
        try:
            return int(await conn.fetchval(COUNT_SQL, list(execution_ids), run_id))
        finally:
            await conn.close()

    async def rows(self, execution_ids: Sequence[uuid.UUID]) -> list[StoredRow]:
        """Every stored row of these executions."""
        conn = await self._connect()
        try:
            records = await conn.fetch(STORED_SQL, list(execution_ids))
        finally:
            await conn.close()
        return [
            StoredRow(
                id=r["id"],
                execution_id=r["execution_id"],
                run=r["run"],
                seq=r["seq"],
                created_at=r["created_at"],
                received_at=r["received_at"],
            )
            for r in records
        ]

    async def rejects(self) -> list[dict[str, Any]]:
        """Rows of the dead-letter table (kind, reason, batch_id)."""
        conn = await self._connect()
        try:
            return [dict(r) for r in await conn.fetch(REJECTS_SQL)]
        finally:
            await conn.close()

    async def total(self) -> int:
        """All rows of execution_logs."""
        conn = await self._connect()
        try:
            return int(await conn.fetchval("SELECT count(*) FROM execution_logs"))
        finally:
            await conn.close()


class RateLimiter:
    """At most ``rate`` tokens per second on average (no limit when ``rate`` is None)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int = 1) -> None:
        """Wait until ``tokens`` may be spent."""
        if not self.rate:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + tokens / self.rate
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class LoadDriver:
    """Produce records through the API and account for them (see the module doc)."""

    def __init__(
        self,
        api_url: str,
        logs_database_url: str,
        *,
        run_id: str | None = None,
        concurrency: int = 16,
        http_timeout: float = 30.0,
        request_retries: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.db = LogsDatabase(logs_database_url)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.concurrency = concurrency
        self.http_timeout = http_timeout
        self.request_retries = request_retries
        self.headers = headers or {}
        self.ledger = Ledger()
        self.request_errors = 0
        self.started_at: float | None = None
        self.produced_at: float | None = None
        self._client: httpx.AsyncClient | None = None
        self._seq: dict[uuid.UUID, int] = {}

    async def __aenter__(self) -> Self:
        limits = httpx.Limits(max_connections=self.concurrency * 2, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(
            base_url=self.api_url,
            timeout=self.http_timeout,
            limits=limits,
            headers=self.headers,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client (inside ``async with``)."""
        if self._client is None:
            raise RuntimeError("use LoadDriver inside 'async with'")
        return self._client

    async def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self.client.request(method, url, **kw)
                if response.status_code not in RETRYABLE_STATUS or attempt >= self.request_retries:
                    return response
            except httpx.TransportError:
                if attempt >= self.request_retries:
                    raise
            attempt += 1
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))

    async def create_execution(self, steps: list[dict[str, Any]] | None = None) -> uuid.UUID:
        """Start an execution; its id (the driver's records go to it)."""
        response = await self._request(
            "POST",
            "/api/v1/executions",
            json={"name": f"load-{self.run_id}", "steps": steps or DEFAULT_STEPS},
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/v1/executions: {response.status_code} {response.text}")
        execution_id = uuid.UUID(response.json()["id"])
        self.ledger.by_execution.setdefault(execution_id, [])
        return execution_id

    async def create_executions(
        self, count: int, steps: list[dict[str, Any]] | None = None
    ) -> list[uuid.UUID]:
        """Start ``count`` executions (up to ``concurrency`` requests at once); their ids."""
        sem = asyncio.Semaphore(self.concurrency)

        async def one() -> uuid.UUID:
            async with sem:
                return await self.create_execution(steps)

        return list(await asyncio.gather(*(one() for _ in range(count))))

    def _records(
        self, execution_id: uuid.UUID, count: int, size: int
    ) -> tuple[int, list[dict[str, Any]]]:
        first = self._seq.get(execution_id, 0)
        self._seq[execution_id] = first + count
        filler = "x" * max(0, size)
        records = [
            {
                "level": "INFO",
                "message": f"load {self.run_id} record {first + i} {filler}",
                "component": "load-driver",
                "node_id": f"load-{(first + i) % 7}",
                "payload": {RUN_KEY: self.run_id, SEQ_KEY: first + i},
            }
            for i in range(count)
        ]
        return first, records

    async def post_logs(
        self, execution_id: uuid.UUID, count: int, *, message_size: int = 0
    ) -> list[uuid.UUID]:
        """Log ``count`` records for an execution; the ids the API returned (also in the ledger).

        A failed request hands out no id (so nothing is expected from it) and is counted in
        ``request_errors``; the sequence numbers it used are not reused.
        """
        first, records = self._records(execution_id, count, message_size)
        try:
            response = await self._request(
                "POST", f"/api/v1/executions/{execution_id}/logs", json={"records": records}
            )
        except httpx.TransportError:
            self.request_errors += 1
            return []
        if response.status_code not in (200, 201, 202):
            self.request_errors += 1
            return []
        ids = [uuid.UUID(i) for i in response.json()["ids"]]
        self.ledger.add(execution_id, first, ids)
        return ids

    async def produce(
        self,
        *,
        executions: int,
        records_per_execution: int,
        batch_size: int = 10,
        rate: float | None = None,
        message_size: int = 0,
        steps: list[dict[str, Any]] | None = None,
        execution_ids: Sequence[uuid.UUID] | None = None,
        progress: Callable[[int], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> float:
        """Create ``executions`` executions (or use ``execution_ids``) and post their records.

        Each execution posts ``records_per_execution`` records in requests of ``batch_size``,
        one request after the other; up to ``concurrency`` executions post at once; ``rate``
        caps records per second overall. ``progress`` gets the number of records each
        accepted request added. Returns seconds spent.
        """
        began = time.monotonic()
        if self.started_at is None:
            self.started_at = began
        sem = asyncio.Semaphore(self.concurrency)
        limiter = RateLimiter(rate)

        async def one(index: int) -> None:
            async with sem:
                if execution_ids is not None:
                    execution_id = execution_ids[index]
                else:
                    execution_id = await self.create_execution(steps)
                left = records_per_execution
                while left > 0:
                    if stop is not None and stop.is_set():
                        return
                    n = min(batch_size, left)
                    await limiter.acquire(n)
                    ids = await self.post_logs(execution_id, n, message_size=message_size)
                    left -= n
                    if progress is not None and ids:
                        progress(len(ids))

        count = len(execution_ids) if execution_ids is not None else executions
        await asyncio.gather(*(one(i) for i in range(count)))
        self.produced_at = time.monotonic()
        return self.produced_at - began

    async def stored_rows(self) -> list[StoredRow]:
        """Stored rows of every execution of this run (read from the logs database)."""
        return await self.db.rows(self.ledger.executions)

    async def wait_stored(
        self, timeout: float = 60.0, *, settle: float = 0.0, stable_for: float | None = None
    ) -> LoadReport:
        """Poll the logs database until every produced id is stored (or ``timeout``); report.

        ``stable_for``: also stop once the stored count has not changed for that many seconds
        (for runs that lose records by design). ``settle`` keeps watching that long after
        completion so late duplicates are caught.
        """
        deadline = time.monotonic() + timeout
        wait_from = self.produced_at or time.monotonic()
        expected = len(self.ledger)
        executions = self.ledger.executions
        delay = 0.05
        last_count = -1
        last_change = time.monotonic()
        drained = wait_from
        while True:
            now = time.monotonic()
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                count = await self.db.count(executions, self.run_id)
                if count != last_count:
                    last_count, last_change, drained = count, now, time.monotonic()
                if count >= expected:
                    break
            if stable_for is not None and now - last_change >= stable_for:
                break
            if now >= deadline:
                drained = time.monotonic()
                break
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        if settle > 0:
            await asyncio.sleep(settle)
        report = compare(self.ledger, await self.stored_rows(), self.run_id)
        report.produce_seconds = (self.produced_at or drained) - (self.started_at or wait_from)
        report.drain_seconds = max(0.0, drained - wait_from)
        report.request_errors = self.request_errors
        return report

    async def read_back(self, execution_id: uuid.UUID, *, page_size: int = 500) -> list[StoredRow]:
        """An execution's records through the API (``GET .../logs``, every page, in order)."""
        rows: list[StoredRow] = []
        params: dict[str, Any] = {"limit": page_size}
        while True:
            response = await self._request(
                "GET", f"/api/v1/executions/{execution_id}/logs", params=params
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"GET logs of {execution_id}: {response.status_code} {response.text[:300]}"
                )
            body = response.json()
            items = body.get("items", []) if isinstance(body, dict) else body
            rows.extend(_row_from_api(item) for item in items)
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not cursor or not items:
                return rows
            params = {"limit": page_size, "cursor": cursor}

    async def read_back_all(self, *, concurrency: int = 8) -> dict[uuid.UUID, list[StoredRow]]:
        """:meth:`read_back` of every execution of this run."""
        sem = asyncio.Semaphore(concurrency)
        result: dict[uuid.UUID, list[StoredRow]] = {}

        async def one(execution_id: uuid.UUID) -> None:
            async with sem:
                result[execution_id] = await self.read_back(execution_id)

        await asyncio.gather(*(one(e) for e in self.ledger.executions))
        return result


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _row_from_api(item: dict[str, Any]) -> StoredRow:
    payload = item.get("payload") or {}
    seq = payload.get(SEQ_KEY)
    return StoredRow(
        id=uuid.UUID(item["id"]),
        execution_id=uuid.UUID(item["execution_id"]),
        run=payload.get(RUN_KEY),
        seq=int(seq) if isinstance(seq, int) else None,
        created_at=_parse_time(item.get("created_at")),
        received_at=_parse_time(item.get("received_at")),
    )
