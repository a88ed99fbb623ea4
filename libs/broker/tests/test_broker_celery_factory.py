"""make_celery_app: what every role shares, and what a role adds or overrides."""

from __future__ import annotations

from execlog_broker.celery_factory import make_celery_app
from execlog_schema.wire import QUEUE_NAME, TASK_NAME


def test_every_app_is_json_only_on_queue_logs_with_text_bodies() -> None:
    app = make_celery_app("t", "redis://127.0.0.1:6379/0")
    conf = app.conf
    assert (conf.task_serializer, conf.result_serializer) == ("json", "json")
    assert list(conf.accept_content) == ["json"]
    assert conf.task_default_queue == QUEUE_NAME
    assert conf.task_routes == {TASK_NAME: {"queue": QUEUE_NAME}}
    assert conf.task_ignore_result is True
    assert conf.broker_transport_options == {"body_encoding": "utf-8"}
    assert app.main == "t"


def test_a_role_adds_transport_options_and_overrides_settings() -> None:
    app = make_celery_app(
        "worker",
        "sentinel://s1:26379;sentinel://s2:26379",
        key_prefix="t1:",
        sentinel_master="mymaster",
        sentinel_password="pw",
        transport={"visibility_timeout": 900, "socket_timeout": 10},
        task_acks_late=True,
        result_backend="redis://127.0.0.1:6379/1",
        task_ignore_result=False,
    )
    assert app.conf.broker_transport_options == {
        "visibility_timeout": 900,
        "socket_timeout": 10,
        "body_encoding": "utf-8",
        "master_name": "mymaster",
        "sentinel_kwargs": {"password": "pw"},
        "global_keyprefix": "t1:",
    }
    assert app.conf.task_acks_late is True
    assert (app.conf.result_backend, app.conf.task_ignore_result) == (
        "redis://127.0.0.1:6379/1",
        False,
    )


def test_stock_celery_bodies_on_request() -> None:
    app = make_celery_app("stock", "redis://127.0.0.1:6379/0", text_body=False, key_prefix="p:")
    assert app.conf.broker_transport_options == {"global_keyprefix": "p:"}
