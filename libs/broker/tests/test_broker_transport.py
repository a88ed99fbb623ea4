"""kombu transport options from the Sentinel and key-prefix settings."""

from execlog_broker.transport import sentinel_kwargs, transport_options


def test_broker_transport_options_empty_by_default() -> None:
    assert transport_options() == {}
    assert transport_options(key_prefix="", sentinel_master=None, sentinel_password="pw") == {}


def test_broker_transport_options_sentinel_and_prefix() -> None:
    assert transport_options(key_prefix="t1:", sentinel_master="m", sentinel_password="pw") == {
        "master_name": "m",
        "sentinel_kwargs": {"password": "pw"},
        "global_keyprefix": "t1:",
    }
    assert transport_options(sentinel_master="m") == {"master_name": "m"}
    assert transport_options(sentinel_master="m", sentinel_password="") == {"master_name": "m"}


def test_broker_sentinel_kwargs() -> None:
    assert sentinel_kwargs(None) is None
    assert sentinel_kwargs("") is None
    assert sentinel_kwargs("pw") == {"password": "pw"}
