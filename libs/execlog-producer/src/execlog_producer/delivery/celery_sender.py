"""Publishing a batch to queue ``logs`` through Celery: broker options, producer app, sender."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import orjson
from celery import Celery

from execlog_broker.celery_factory import make_celery_app
from execlog_producer.delivery.errors import DeliveryError
from execlog_schema.codec import encode_batch
from execlog_schema.models import LogBatch
from execlog_schema.wire import QUEUE_NAME, TASK_NAME


@dataclass(frozen=True)
class BrokerOptions:
    """Celery/kombu publishing options: short timeouts so a dead broker fails fast."""

    url: str
    key_prefix: str = ""
    connect_timeout: float = 1.0
    socket_timeout: float = 2.0
    max_retries: int = 2
    retry_interval: float = 0.2
    retry_interval_max: float = 1.0
    sentinel_master: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    def retry_policy(self) -> dict[str, float | int]:
        """kombu publish retry policy (exponential-ish: start, step, max)."""
        return {
            "max_retries": self.max_retries,
            "interval_start": 0,
            "interval_step": self.retry_interval,
            "interval_max": self.retry_interval_max,
        }


def producer_app(options: BrokerOptions, name: str = "execlog_producer") -> Celery:
    """The producer's Celery app: it publishes on the request path, so every wait is short."""
    return make_celery_app(
        name,
        options.url,
        key_prefix=options.key_prefix,
        sentinel_master=options.sentinel_master,
        sentinel_password=options.sentinel_password,
        transport={
            "socket_timeout": options.socket_timeout,
            "socket_connect_timeout": options.connect_timeout,
            # A timed-out publish goes to the HTTP fallback instead of waiting again.
            "retry_on_timeout": False,
            # Detects half-open connections (NAT, failover) before a publish hangs on one.
            "health_check_interval": 25,
            "max_connections": 4,
        },
        broker_connection_timeout=options.connect_timeout,
        # A broker that is down is the delivery chain's business (fallback, spool), not a
        # reason to block: no connection retries beyond the publish retry policy.
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_connection_max_retries=0,
        broker_pool_limit=2,
        task_publish_retry=True,
        task_publish_retry_policy=options.retry_policy(),
    )


class CelerySender:
    """Publishes a batch with ``send_task`` (task id = batch id) to queue ``logs``."""

    name = "broker"

    def __init__(self, options: BrokerOptions, app: Celery | None = None) -> None:
        self.options = options
        self.app = app if app is not None else producer_app(options)

    def send(self, batch: LogBatch) -> None:
        """Publish; kombu retries per the policy, then the error propagates as DeliveryError."""
        self.publish(str(batch.batch_id), len(batch.records), encode_batch(batch))

    def publish(self, batch_id: str, records: int, data: bytes) -> None:
        """Publish a batch already encoded as JSON (``encode_batch``) under task id ``batch_id``."""
        try:
            self.app.send_task(
                TASK_NAME,
                # Encoded once by orjson and embedded verbatim by the orjson kombu codec
                # (register_kombu_json): the same JSON on the wire, without encoding the batch,
                # decoding it back to a dict and encoding that again.
                args=[orjson.Fragment(data)],
                queue=QUEUE_NAME,
                task_id=batch_id,
                # Celery would otherwise build a repr of the whole batch for the message
                # headers on every publish (a quarter of the publish CPU).
                argsrepr=f"<LogBatch {batch_id}: {records} records>",
                kwargsrepr="{}",
                retry=True,
                retry_policy=self.options.retry_policy(),
                ignore_result=True,
            )
        except Exception as exc:
            raise DeliveryError(f"broker publish failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the producer pool and broker connections."""
        with contextlib.suppress(Exception):
            self.app.close()
