"""Settings from environment variables: new names, the old names still read, blank values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from service_testkit import read_settings

from execlog_worker.settings import Settings

ENV_NAMES = (
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "TASK_MAX_RETRIES",
    "TASK_TIME_LIMIT",
    "TASK_SOFT_TIME_LIMIT",
    "TASK_RETRY_BACKOFF_BASE",
    "TASK_RETRY_BACKOFF_MAX",
    "BROKER_VISIBILITY_TIMEOUT",
    "WORKER_METRICS_PORT",
    "LOG_API_TOKEN",
    *Settings.RENAMED,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def read(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[Settings, list[str]]:
    """Settings from ``env`` and the deprecation warnings their construction emitted."""
    return read_settings(Settings, monkeypatch, **env)


def test_worker_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read(monkeypatch)
    assert (s.db_pool_min_size, s.db_pool_max_size) == (1, 4)
    assert (s.task_retry_backoff_base, s.task_retry_backoff_max) == (1.0, 60.0)
    assert caught == []
    assert s.deprecated_settings == ()


def test_worker_settings_new_names(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read(
        monkeypatch,
        TASK_RETRY_BACKOFF_BASE="0.2",
        TASK_RETRY_BACKOFF_MAX="5",
        DB_POOL_MIN_SIZE="2",
        DB_POOL_MAX_SIZE="8",
    )
    assert (s.task_retry_backoff_base, s.task_retry_backoff_max) == (0.2, 5.0)
    assert (s.db_pool_min_size, s.db_pool_max_size) == (2, 8)
    assert caught == []


def test_worker_settings_old_backoff_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read(monkeypatch, RETRY_BACKOFF_BASE="0.2", RETRY_BACKOFF_MAX="5")
    assert (s.task_retry_backoff_base, s.task_retry_backoff_max) == (0.2, 5.0)
    assert caught == [
        "RETRY_BACKOFF_BASE is deprecated: use TASK_RETRY_BACKOFF_BASE",
        "RETRY_BACKOFF_MAX is deprecated: use TASK_RETRY_BACKOFF_MAX",
    ]
    assert [(d.old, d.new, d.ignored) for d in s.deprecated_settings] == [
        ("RETRY_BACKOFF_BASE", "TASK_RETRY_BACKOFF_BASE", False),
        ("RETRY_BACKOFF_MAX", "TASK_RETRY_BACKOFF_MAX", False),
    ]


def test_worker_settings_new_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read(monkeypatch, RETRY_BACKOFF_MAX="5", TASK_RETRY_BACKOFF_MAX="7")
    assert s.task_retry_backoff_max == 7.0
    assert caught == [
        "RETRY_BACKOFF_MAX is deprecated and ignored: TASK_RETRY_BACKOFF_MAX is set; "
        "remove RETRY_BACKOFF_MAX"
    ]


def test_worker_settings_blank_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    s, caught = read(
        monkeypatch,
        TASK_RETRY_BACKOFF_BASE="",
        RETRY_BACKOFF_MAX="",
        DB_POOL_MAX_SIZE="",
        WORKER_METRICS_PORT="",
    )
    assert (s.task_retry_backoff_base, s.task_retry_backoff_max) == (1.0, 60.0)
    assert (s.db_pool_max_size, s.worker_metrics_port) == (4, None)
    assert caught == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_POOL_MIN_SIZE": "5"}, "DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE"),
        (
            {"TASK_RETRY_BACKOFF_MAX": "700"},
            r"must exceed TASK_TIME_LIMIT \+ TASK_RETRY_BACKOFF_MAX \(1000s\)",
        ),
        (
            {"RETRY_BACKOFF_MAX": "700"},
            r"must exceed TASK_TIME_LIMIT \+ TASK_RETRY_BACKOFF_MAX \(1000s\)",
        ),
    ],
)
def test_worker_settings_incoherent_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        read(monkeypatch, **env)
