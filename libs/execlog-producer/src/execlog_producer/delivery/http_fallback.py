"""The HTTP fallback: a batch POSTed to log-worker's ``/v1/batches`` when the broker fails."""

from __future__ import annotations

import httpx

from execlog_producer.delivery.errors import DeliveryError, WorkerRejectedError
from execlog_schema.codec import encode_batch
from execlog_schema.models import LogBatch


class HttpFallback:
    """POSTs a batch to log-worker's ``/v1/batches`` with the bearer token."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )

    def send(self, batch: LogBatch) -> None:
        """Deliver; 422 raises WorkerRejectedError (final), other non-2xx/network DeliveryError."""
        try:
            response = self._client.post("/v1/batches", content=encode_batch(batch))
        except httpx.HTTPError as exc:
            raise DeliveryError(f"log-worker unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 422:
            raise WorkerRejectedError(f"log-worker rejected the batch: {response.text[:500]}")
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"log-worker answered {response.status_code}: {response.text[:200]}"
            )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
