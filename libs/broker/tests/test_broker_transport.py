"""kombu transport options from the Sentinel and key-prefix settings."""

from execlog_broker.transport import sentinel_kwargs, transport_options

TEXT_BODY = {"body_encoding": "utf-8"}


def test_broker_transport_options_text_body_only_by_default() -> None:
    assert transport_options() == TEXT_BODY
    assert (
        transport_options(key_prefix="", sentinel_master=None, sentinel_password="pw") == TEXT_BODY
    )


def test_broker_transport_options_sentinel_and_prefix() -> None:
    assert transport_options(key_prefix="t1:", sentinel_master="m", sentinel_password="pw") == {
        **TEXT_BODY,
        "master_name": "m",
        "sentinel_kwargs": {"password": "pw"},
        "global_keyprefix": "t1:",
    }
    assert transport_options(sentinel_master="m") == {**TEXT_BODY, "master_name": "m"}
    assert transport_options(sentinel_master="m", sentinel_password="") == {
        **TEXT_BODY,
        "master_name": "m",
    }


def test_broker_sentinel_kwargs() -> None:
    assert sentinel_kwargs(None) is None
    assert sentinel_kwargs("") is None
    assert sentinel_kwargs("pw") == {"password": "pw"}
