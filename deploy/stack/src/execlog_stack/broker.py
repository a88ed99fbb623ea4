"""A client of the stack's Celery broker: ping workers, count their tasks, inject messages.

Only JSON goes on the wire. :meth:`BrokerClient.send_batch` publishes a task message the way
the API does (any object as the one argument, so tests can send invalid batches);
:meth:`BrokerClient.publish_raw` publishes a task message whose body is arbitrary bytes (a
body that is not JSON at all); :meth:`BrokerClient.unacked_batches` reads what the workers
hold unacknowledged, straight from Redis.
"""

from __future__ import annotations

import base64
import json
import uuid

import redis

from execlog_broker.celery_factory import make_celery_app
from execlog_schema.wire import QUEUE_NAME, TASK_NAME


class BrokerClient:
    """Celery control/producer for one broker URL and key prefix."""

    def __init__(
        self,
        redis_url: str,
        key_prefix: str,
        *,
        name: str = "execlog-stack",
        text_body: bool = False,
    ) -> None:
        """``text_body=False`` publishes the way stock Celery does (base64 bodies)."""
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.app = make_celery_app(
            name,
            redis_url,
            key_prefix=key_prefix,
            text_body=text_body,
            transport={"socket_connect_timeout": 2, "socket_timeout": 5},
            broker_connection_retry_on_startup=False,
            broker_connection_max_retries=1,
        )

    def ping(self, node: str, timeout: float = 0.5) -> bool:
        """Whether Celery node ``node`` (e.g. ``logs1@host``) answers a control ping."""
        try:
            replies = self.app.control.ping(destination=[node], timeout=timeout)
        except Exception:
            return False
        return any(node in reply for reply in replies or [])

    def task_counts(self, timeout: float = 1.0) -> dict[str, int]:
        """Tasks each live worker node has received since it started (by node name)."""
        stats = self.app.control.inspect(timeout=timeout).stats() or {}
        return {node: int(sum((info.get("total") or {}).values())) for node, info in stats.items()}

    def send_batch(self, batch: object) -> str:
        """Publish the log-writing task with ``batch`` as its argument; the task id."""
        task_id = str(uuid.uuid4())
        self.app.send_task(TASK_NAME, args=[batch], queue=QUEUE_NAME, task_id=task_id)
        return task_id

    def publish_raw(self, body: bytes, *, content_type: str = "application/json") -> str:
        """Publish a task message (valid Celery headers) whose body is ``body`` as is."""
        task_id = str(uuid.uuid4())
        headers = {
            "lang": "py",
            "task": TASK_NAME,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "argsrepr": "<raw>",
            "kwargsrepr": "{}",
            "origin": "execlog-stack",
            "ignore_result": True,
        }
        with self.app.connection_for_write() as conn, conn.Producer() as producer:
            producer.publish(
                body,
                routing_key=QUEUE_NAME,
                exchange="",
                headers=headers,
                content_type=content_type,
                content_encoding="utf-8",
                serializer=None,
                correlation_id=task_id,
                retry=False,
            )
        return task_id

    def _redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)

    def unacked_batches(self) -> list[object]:
        """The task argument of every message delivered to a worker and not yet acked."""
        client = self._redis()
        try:
            raw = client.hvals(f"{self.key_prefix}unacked")
        finally:
            client.close()
        batches: list[object] = []
        for item in raw:
            message = json.loads(item)[0]
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            try:
                args = json.loads(body)[0]
            except (ValueError, TypeError, IndexError, KeyError):
                batches.append(body)
                continue
            batches.append(args[0] if args else None)
        return batches

    def close(self) -> None:
        """Release the broker connections."""
        self.app.close()
