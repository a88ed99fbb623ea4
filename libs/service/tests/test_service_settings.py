"""ServiceSettings: blank variables are unset, renamed variables keep working with a warning."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
import structlog
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from execlog_service.settings import (
    DeprecatedSetting,
    Renamed,
    ServiceSettings,
    log_deprecated_settings,
)

ENV = ("POOL_MIN", "POOL_MAX", "OLD_MIN", "OLD_EXTRA", "BACKOFF", "OLD_BACKOFF", "NAME")


def _max_from_extra(raw: str, values: Mapping[str, Any]) -> int:
    return int(values.get("pool_min", 1)) + int(raw)


class ExampleSettings(ServiceSettings):
    """A service's settings: renamed variables, one of them in another unit."""

    model_config = SettingsConfigDict(env_nested_delimiter="__")

    RENAMED: ClassVar[Mapping[str, str | Renamed]] = {
        "OLD_MIN": "pool_min",
        "OLD_EXTRA": Renamed("pool_max", _max_from_extra, "set it to POOL_MIN + OLD_EXTRA"),
        "OLD_BACKOFF": "backoff",
    }

    pool_min: int = Field(default=1, ge=0)
    pool_max: int = 4
    backoff: float = 0.5
    name: str = "svc"

    @classmethod
    def complete_renamed(cls, values: dict[str, Any], used: frozenset[str]) -> None:
        if "OLD_MIN" in used and "pool_max" not in values:
            values["pool_max"] = _max_from_extra("3", values)


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def read(**env: str) -> tuple[ExampleSettings, list[warnings.WarningMessage]]:
    """Settings from ``env`` (already set) and the warnings their construction emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = ExampleSettings()
    return settings, [w for w in caught if issubclass(w.category, DeprecationWarning)]


def test_subclass_keeps_the_base_config() -> None:
    config = ExampleSettings.model_config
    assert config.get("env_ignore_empty") is True
    assert config.get("case_sensitive") is False
    assert config.get("extra") == "ignore"
    assert config.get("env_nested_delimiter") == "__"


def test_new_name_alone_no_warning(env: pytest.MonkeyPatch) -> None:
    env.setenv("POOL_MIN", "3")
    env.setenv("BACKOFF", "2")
    settings, caught = read()
    assert (settings.pool_min, settings.backoff) == (3, 2.0)
    assert caught == []
    assert settings.deprecated_settings == ()


def test_old_name_alone_is_read_and_warns_once(env: pytest.MonkeyPatch) -> None:
    env.setenv("OLD_BACKOFF", "2.5")
    settings, caught = read()
    assert settings.backoff == 2.5
    assert [str(w.message) for w in caught] == [
        "OLD_BACKOFF is deprecated: use BACKOFF",
    ]
    assert caught[0].filename == __file__, "stacklevel must point at the construction"
    assert settings.deprecated_settings == (DeprecatedSetting("OLD_BACKOFF", "BACKOFF", False),)


def test_old_name_any_case(env: pytest.MonkeyPatch) -> None:
    env.setenv("old_backoff", "3")
    settings, caught = read()
    assert settings.backoff == 3.0
    assert len(caught) == 1


def test_both_set_the_new_one_wins_and_the_old_one_is_said_ignored(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("OLD_BACKOFF", "2.5")
    env.setenv("BACKOFF", "7")
    settings, caught = read()
    assert settings.backoff == 7.0
    assert [str(w.message) for w in caught] == [
        "OLD_BACKOFF is deprecated and ignored: BACKOFF is set; remove OLD_BACKOFF"
    ]
    assert settings.deprecated_settings[0].ignored


def test_a_value_given_directly_wins_over_an_old_name(env: pytest.MonkeyPatch) -> None:
    env.setenv("OLD_BACKOFF", "2.5")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = ExampleSettings(backoff=9)
    assert settings.backoff == 9.0
    assert "ignored" in str(caught[0].message)


def test_blank_is_unset(env: pytest.MonkeyPatch) -> None:
    env.setenv("NAME", "")
    env.setenv("POOL_MIN", "")
    env.setenv("OLD_BACKOFF", "")
    settings, caught = read()
    assert (settings.name, settings.pool_min, settings.backoff) == ("svc", 1, 0.5)
    assert caught == []
    env.setenv("OLD_BACKOFF", "4")
    env.setenv("BACKOFF", "")
    settings, caught = read()
    assert settings.backoff == 4.0, "a blank new variable does not hide the old one"
    assert not settings.deprecated_settings[0].ignored


def test_renamed_with_conversion(env: pytest.MonkeyPatch) -> None:
    env.setenv("OLD_MIN", "3")
    env.setenv("OLD_EXTRA", "5")
    settings, caught = read()
    assert (settings.pool_min, settings.pool_max) == (3, 8)
    assert [str(w.message) for w in caught] == [
        "OLD_MIN is deprecated: use POOL_MIN",
        "OLD_EXTRA is deprecated: use POOL_MAX (set it to POOL_MIN + OLD_EXTRA)",
    ]
    env.setenv("POOL_MIN", "2")
    env.delenv("OLD_MIN")
    settings, _ = read()
    assert settings.pool_max == 7, "the new minimum counts too"


def test_complete_renamed_sees_what_old_names_imply(env: pytest.MonkeyPatch) -> None:
    env.setenv("OLD_MIN", "3")
    settings, _ = read()
    assert (settings.pool_min, settings.pool_max) == (3, 6), "OLD_EXTRA's old default applies"
    env.setenv("POOL_MAX", "5")
    assert read()[0].pool_max == 5
    env.delenv("POOL_MAX")
    env.setenv("POOL_MIN", "2")
    settings, _ = read()
    assert (settings.pool_min, settings.pool_max) == (2, 4), "OLD_MIN ignored: nothing implied"


def test_an_old_value_is_validated_like_the_new_one(env: pytest.MonkeyPatch) -> None:
    env.setenv("OLD_MIN", "-1")
    with pytest.raises(ValidationError, match="pool_min"):
        read()


def test_log_deprecated_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("OLD_BACKOFF", "2.5")
    env.setenv("OLD_MIN", "2")
    env.setenv("POOL_MIN", "3")
    settings, _ = read()
    with structlog.testing.capture_logs() as logs:
        log_deprecated_settings(structlog.get_logger("test"), settings)
    assert [(e["event"], e["log_level"], e["old"], e["new"], e["ignored"]) for e in logs] == [
        ("deprecated setting", "warning", "OLD_MIN", "POOL_MIN", True),
        ("deprecated setting", "warning", "OLD_BACKOFF", "BACKOFF", False),
    ]
