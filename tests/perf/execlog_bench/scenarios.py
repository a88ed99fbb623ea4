"""The end-to-end configurations: the naive pipeline, the optimised one, and the ablations."""

from __future__ import annotations

from execlog_bench.pipeline import ProducerConfig, WorkerConfig
from execlog_bench.sec_e2e import Scenario

NAIVE_WORKER_ENV: dict[str, str] = {
    "WORKER_COALESCE": "false",
    "WRITE_METHOD": "unnest",
    "WORKER_PREFETCH_MULTIPLIER": "1",
}
"""The naive worker: one message per task, unnest, prefetch 1."""

TUNED_WORKER_ENV: dict[str, str] = {
    "WORKER_COALESCE": "true",
    "WRITE_METHOD": "copy",
    "WORKER_PREFETCH_MULTIPLIER": "16",
}
"""Coalescing worker: queued messages written together, COPY (staging only on conflict),
deep prefetch. These are log-worker's defaults now; stated so the figures do not depend on them."""

NAIVE_PRODUCER = ProducerConfig(buffer_size=50, max_batch_records=50)
"""Size trigger as a cap: every message holds 50 records."""
B50_PRODUCER = ProducerConfig(buffer_size=50, max_batch_records=500)
"""Size trigger as a minimum: a flush takes everything waiting, up to 500."""
TUNED_PRODUCER = ProducerConfig(buffer_size=500, max_batch_records=500)


def _with(env: dict[str, str], **changes: str) -> dict[str, str]:
    return {**env, **changes}


def main_scenarios(workers: list[int]) -> list[Scenario]:
    """The headline table: the naive pipeline, batch 50 optimised and tuned, 1 and 2 workers."""
    out = [
        Scenario(
            "naive_w2",
            "naive pipeline: 50/message (cap), 1 message per task, unnest, prefetch 1",
            NAIVE_PRODUCER,
            WorkerConfig(2, NAIVE_WORKER_ENV),
        )
    ]
    for w in workers:
        out.append(
            Scenario(
                f"b50_w{w}",
                f"batch 50 (minimum), coalescing worker, {w} process{'es' if w > 1 else ''}",
                B50_PRODUCER,
                WorkerConfig(w, TUNED_WORKER_ENV),
            )
        )
    for w in workers:
        out.append(
            Scenario(
                f"tuned_w{w}",
                f"batch 500, coalescing worker, {w} process{'es' if w > 1 else ''}",
                TUNED_PRODUCER,
                WorkerConfig(w, TUNED_WORKER_ENV),
            )
        )
    return out


def drain_scenarios(workers: list[int]) -> list[Scenario]:
    """A queue full of 50-record messages, drained by the naive worker and the coalescing one."""
    out = [
        Scenario(
            "drain_naive_w2",
            "drain 50-record messages: 1 message per task (naive)",
            NAIVE_PRODUCER,
            WorkerConfig(2, NAIVE_WORKER_ENV),
            mode="drain",
            group="drain",
        )
    ]
    base = WorkerConfig(2, TUNED_WORKER_ENV)
    for key, label, env in (
        (
            "drain_abl_no_coalesce",
            "- coalescing (1 message per task)",
            {"WORKER_COALESCE": "false"},
        ),
        (
            "drain_abl_prefetch1",
            "- deep prefetch (multiplier 1)",
            {"WORKER_PREFETCH_MULTIPLIER": "1"},
        ),
        (
            "drain_abl_copy_staging",
            "- COPY straight in (staging every time)",
            {"WRITE_METHOD": "copy_staging"},
        ),
        ("drain_abl_unnest", "- COPY (unnest ON CONFLICT)", {"WRITE_METHOD": "unnest"}),
    ):
        out.append(
            Scenario(
                key,
                f"drain 50-record messages, coalescing worker, 2 processes, {label}",
                NAIVE_PRODUCER,
                WorkerConfig(base.concurrency, _with(TUNED_WORKER_ENV, **env)),
                mode="drain",
                group="drain-ablation",
            )
        )
    for w in workers:
        out.append(
            Scenario(
                f"drain_coalesce_w{w}",
                f"drain 50-record messages: coalescing worker, {w} process{'es' if w > 1 else ''}",
                NAIVE_PRODUCER,
                WorkerConfig(w, TUNED_WORKER_ENV),
                mode="drain",
                group="drain",
            )
        )
    return out


def ablation_scenarios() -> list[Scenario]:
    """Batch 50, 2 processes: the optimised pipeline with one thing reverted at a time."""
    base = WorkerConfig(2, TUNED_WORKER_ENV)
    return [
        Scenario(
            "abl_all",
            "all optimisations (= b50_w2)",
            B50_PRODUCER,
            base,
            group="ablation",
        ),
        Scenario(
            "abl_producer_cap",
            "- producer size trigger as a cap (50/message)",
            NAIVE_PRODUCER,
            base,
            group="ablation",
        ),
        Scenario(
            "abl_no_coalesce",
            "- worker coalescing (1 message per task)",
            B50_PRODUCER,
            WorkerConfig(2, _with(TUNED_WORKER_ENV, WORKER_COALESCE="false")),
            group="ablation",
        ),
        Scenario(
            "abl_prefetch1",
            "- deep prefetch (prefetch multiplier 1)",
            B50_PRODUCER,
            WorkerConfig(2, _with(TUNED_WORKER_ENV, WORKER_PREFETCH_MULTIPLIER="1")),
            group="ablation",
        ),
        Scenario(
            "abl_copy_staging",
            "- COPY straight into the table (staging + ON CONFLICT every time)",
            B50_PRODUCER,
            WorkerConfig(2, _with(TUNED_WORKER_ENV, WRITE_METHOD="copy_staging")),
            group="ablation",
        ),
        Scenario(
            "abl_unnest",
            "- COPY (unnest ON CONFLICT instead)",
            B50_PRODUCER,
            WorkerConfig(2, _with(TUNED_WORKER_ENV, WRITE_METHOD="unnest")),
            group="ablation",
        ),
    ]
