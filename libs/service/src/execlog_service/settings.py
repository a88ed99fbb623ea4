"""``ServiceSettings``: how every execlog service reads its environment variables.

No prefix, case-insensitive names, a blank variable is unset (its default applies), and a renamed
variable is still read under its old name (``RENAMED``) while the new one is unset: a
``DeprecationWarning`` at construction and an entry in ``deprecated_settings``, which the service
logs at start with :func:`log_deprecated_settings` (warnings are often hidden in services).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from pydantic import PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class Renamed:
    """An old variable whose value means something else under the new name."""

    field: str
    """The field that replaces it."""
    convert: Callable[[str, Mapping[str, Any]], Any]
    """The field's value from the old variable's and from what was read so far (by field name,
    earlier ``RENAMED`` entries included)."""
    hint: str
    """How the new value follows from the old one, for the deprecation message."""


@dataclass(frozen=True)
class DeprecatedSetting:
    """An old variable name found in the environment."""

    old: str
    """The old variable, as ``RENAMED`` names it."""
    new: str
    """The variable that replaces it."""
    ignored: bool
    """The new variable is set too (or the value was given directly): the old one is not read."""
    hint: str = ""
    """:attr:`Renamed.hint`, when the value is converted."""

    @property
    def message(self) -> str:
        if self.ignored:
            return f"{self.old} is deprecated and ignored: {self.new} is set; remove {self.old}"
        how = f" ({self.hint})" if self.hint else ""
        return f"{self.old} is deprecated: use {self.new}{how}"


def _as_is(raw: str, values: Mapping[str, Any]) -> str:
    return raw


_found: ContextVar[list[DeprecatedSetting] | None] = ContextVar("_found", default=None)
"""The old variables read by the ``ServiceSettings`` construction under way (None: none is)."""


class ServiceSettings(BaseSettings):
    """Base of every service's settings: the rules above; no fields of its own."""

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, validate_default=True, env_ignore_empty=True
    )

    RENAMED: ClassVar[Mapping[str, str | Renamed]] = {}
    """Old variable name -> the field that replaces it, or a :class:`Renamed` that converts."""

    _deprecated_settings: tuple[DeprecatedSetting, ...] = PrivateAttr(default=())

    def __init__(self, **values: Any) -> None:
        found: list[DeprecatedSetting] = []
        token = _found.set(found)
        try:
            super().__init__(**values)
        finally:
            _found.reset(token)
        self._deprecated_settings = tuple(found)
        for setting in found:
            warnings.warn(setting.message, DeprecationWarning, stacklevel=2)

    @property
    def deprecated_settings(self) -> tuple[DeprecatedSetting, ...]:
        """The old variable names this instance found in the environment, in ``RENAMED`` order."""
        return self._deprecated_settings

    @classmethod
    def complete_renamed(cls, values: dict[str, Any], used: frozenset[str]) -> None:
        """Set in ``values`` what the old variables ``used`` (read, not ignored) imply beyond the
        fields that replace them: nothing here; a service overrides this where an old variable's
        default mattered to the others (``values``: what was read, by field name)."""

    @model_validator(mode="before")
    @classmethod
    def _read_renamed(cls, data: Any) -> Any:
        found = _found.get()
        if found is None or not isinstance(data, dict) or not cls.RENAMED:
            return data  # not constructed through __init__: the environment is not read
        config = cls.model_config
        prefix = str(config.get("env_prefix") or "")
        environ: Mapping[str, str] = os.environ
        if not config.get("case_sensitive"):
            environ = {name.upper(): value for name, value in os.environ.items()}
        values = dict(data)
        for old, target in cls.RENAMED.items():
            raw = environ.get(old if config.get("case_sensitive") else old.upper())
            if raw is None or (raw == "" and config.get("env_ignore_empty")):
                continue
            renamed = target if isinstance(target, Renamed) else Renamed(target, _as_is, "")
            ignored = renamed.field in values
            if not ignored:
                values[renamed.field] = renamed.convert(raw, values)
            new = (prefix + renamed.field).upper()
            found.append(DeprecatedSetting(old, new, ignored, renamed.hint))
        cls.complete_renamed(values, frozenset(s.old for s in found if not s.ignored))
        return values


def log_deprecated_settings(log: structlog.stdlib.BoundLogger, settings: ServiceSettings) -> None:
    """One ``deprecated setting`` warning line per old variable name ``settings`` read."""
    for setting in settings.deprecated_settings:
        log.warning(
            "deprecated setting",
            old=setting.old,
            new=setting.new,
            ignored=setting.ignored,
            detail=setting.message,
        )
