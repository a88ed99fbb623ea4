"""Test helpers for users of execlog_service.settings: settings read from an environment."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def read_settings(
    factory: Callable[[], T], monkeypatch: pytest.MonkeyPatch, **env: str
) -> tuple[T, list[str]]:
    """``factory()`` with ``env`` set, and the messages of the DeprecationWarnings it emitted."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = factory()
    return settings, [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
