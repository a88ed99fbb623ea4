"""The one place a Celery app for the logs queue is built.

Every process that talks to queue ``logs`` gets its app from :func:`make_celery_app`: the
API's publisher, the log-worker, Flower and the test and benchmark clients. What all of them
share is set here, each with its reason; what differs by role (timeouts, retries, the worker's
acknowledgement policy) is passed in by the caller, next to its own reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery

from execlog_broker.settings import BrokerSettings
from execlog_broker.transport import BODY_ENCODING_OPTION, transport_options
from execlog_schema.wire import QUEUE_NAME, TASK_NAME, register_kombu_json


def make_celery_app(
    name: str,
    url: str,
    *,
    key_prefix: str = "",
    sentinel_master: str | None = None,
    sentinel_password: str | None = None,
    text_body: bool = True,
    transport: Mapping[str, Any] | None = None,
    set_as_current: bool = False,
    **conf: Any,
) -> Celery:
    """A Celery app for queue ``logs`` on broker ``url``.

    ``transport`` adds the role's kombu transport options (timeouts...) to the shared ones
    (body encoding, Sentinel, key prefix); ``conf`` adds or overrides Celery settings.
    ``text_body=False`` publishes bodies the way stock Celery does (base64), for tests that
    stand in for a producer we do not control.
    """
    register_kombu_json()
    options = {
        **(transport or {}),
        **transport_options(
            key_prefix=key_prefix,
            sentinel_master=sentinel_master,
            sentinel_password=sentinel_password,
        ),
    }
    if not text_body:
        options.pop(BODY_ENCODING_OPTION)
    app = Celery(name, broker=url, set_as_current=set_as_current)
    app.conf.update(
        broker_transport_options=options,
        # JSON only on the wire: a message must never be able to run code (no pickle).
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        task_default_queue=QUEUE_NAME,
        task_routes={TASK_NAME: {"queue": QUEUE_NAME}},
        # Fire-and-forget: the log-worker's write is the result; nothing reads task results.
        result_backend=None,
        task_ignore_result=True,
    )
    app.conf.update(conf)
    return app


def celery_app_for(settings: BrokerSettings, name: str, **kwargs: Any) -> Celery:
    """:func:`make_celery_app` on the broker of ``settings`` (URL, key prefix, Sentinel)."""
    password = settings.redis_sentinel_password
    return make_celery_app(
        name,
        settings.broker_url,
        key_prefix=settings.broker_key_prefix,
        sentinel_master=settings.redis_sentinel_master,
        sentinel_password=None if password is None else password.get_secret_value(),
        **kwargs,
    )
