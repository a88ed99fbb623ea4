"""The log-worker's two write methods (unnest vs COPY) on a throwaway database.

    python -m execlog_bench.write_methods --batches 200 --batch-size 50 --rounds 3

Creates a database on DATABASE_URL's server, migrates it, writes the same workload with each
method in alternating rounds (fresh records each time), prints rows/s, drops the database.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import click

from execlog_db.admin import create_database_async, database_url_for, drop_database_async
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.models import LogBatch
from execlog_worker.ingest.pool import create_pool
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.ops.partitions import ensure_partitions
from execlog_worker.ops.schema import migrate
from execlog_worker.settings import Settings, WriteMethod, get_settings


def _workload(batches: int, size: int, executions: int) -> list[LogBatch]:
    producer = make_producer("bench", "0")
    execution_ids = [uuid.uuid4() for _ in range(executions)]
    out = []
    for b in range(batches):
        records = [
            new_record(
                execution_id=execution_ids[(b + i) % executions],
                level="INFO",
                message=f"step {i} of batch {b}: something happened in the runner",
                component="runner",
                node_id=f"node-{i % 7}",
                payload={"i": i, "b": b, "tags": ["a", "b"], "ok": True},
            )
            for i in range(size)
        ]
        out.append(new_batch(records, producer))
    return out


async def _round(
    writer: LogWriter, workload: list[LogBatch], coalesce: int, concurrency: int
) -> float:
    groups = [workload[i : i + coalesce] for i in range(0, len(workload), coalesce)]
    queue: asyncio.Queue[list[LogBatch]] = asyncio.Queue()
    for group in groups:
        queue.put_nowait(group)

    async def drain() -> None:
        while not queue.empty():
            await writer.write_batches(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(drain() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run(
    settings: Settings, batches: int, size: int, rounds: int, coalesce: int, concurrency: int
) -> dict[str, list[float]]:
    name = f"execlog_bench_{uuid.uuid4().hex[:12]}"
    await create_database_async(settings.database_url, name)
    try:
        bench = settings.model_copy(
            update={
                "database_url": database_url_for(settings.database_url, name),
                "db_pool_max_size": max(concurrency, 1),
            }
        )
        await migrate(bench)
        pool = await create_pool(bench)
        try:
            async with pool.acquire() as conn:
                await ensure_partitions(conn, days_ahead=1)
            rates: dict[str, list[float]] = {"unnest": [], "copy": []}
            await _round(LogWriter(pool, "copy"), _workload(4, size, 4), 1, 1)
            await _round(LogWriter(pool, "unnest"), _workload(4, size, 4), 1, 1)
            for _ in range(rounds):
                methods: tuple[WriteMethod, ...] = ("unnest", "copy")
                for method in methods:
                    workload = _workload(batches, size, max(1, batches // 10))
                    writer = LogWriter(pool, method)
                    seconds = await _round(writer, workload, coalesce, concurrency)
                    rates[method].append(batches * size / seconds)
            return rates
        finally:
            await pool.close()
    finally:
        await drop_database_async(settings.database_url, name)


@click.command()
@click.option("--batches", type=int, default=200, show_default=True)
@click.option("--batch-size", type=int, default=50, show_default=True)
@click.option("--rounds", type=int, default=3, show_default=True)
@click.option("--coalesce", type=int, default=1, show_default=True, help="batches per statement")
@click.option("--concurrency", type=int, default=1, show_default=True)
def main(batches: int, batch_size: int, rounds: int, coalesce: int, concurrency: int) -> None:
    """Print rows/s of each write path (median of the rounds)."""
    rates = asyncio.run(run(get_settings(), batches, batch_size, rounds, coalesce, concurrency))
    for method, values in rates.items():
        click.echo(
            f"{method:6s} median {statistics.median(values):>9,.0f} rows/s "
            f"(rounds: {', '.join(f'{v:,.0f}' for v in values)}; {batches} batches x "
            f"{batch_size} records, {coalesce} batch(es)/statement, concurrency {concurrency})"
        )


if __name__ == "__main__":
    main()
