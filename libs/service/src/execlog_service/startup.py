"""Startup checks: import what a command loads by name before it starts, one line on failure.

A service loads several things by name at run time (a database driver from a URL scheme, a
broker transport, an app factory from a ``module:attr`` string, a plugin from an entry point),
which neither dependency inference nor a test from sources sees missing. A command runs its
checks first: when one fails it stops with a :class:`StartupCheckError` whose message is one
line naming what is missing, instead of a traceback from deep inside a server's startup.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path


class StartupCheckError(Exception):
    """A check failed; the message is one line naming what and why."""


@dataclass(frozen=True)
class Check:
    """One thing a command needs: ``load()`` imports it and says briefly what it found."""

    what: str
    load: Callable[[], str]


def run_checks(checks: Iterable[Check]) -> list[str]:
    """Run ``checks`` in order; ``"<what>: <found>"`` for each, or the first failure raised."""
    passed: list[str] = []
    for check in checks:
        try:
            found = check.load()
        except ModuleNotFoundError as exc:
            missing = exc.name or str(exc)
            raise StartupCheckError(
                f"{check.what}: module {missing!r} is not installed (this build lacks a dependency)"
            ) from exc
        except (ImportError, ValueError, LookupError, AttributeError, TypeError) as exc:
            raise StartupCheckError(f"{check.what}: {type(exc).__name__}: {exc}") from exc
        passed.append(f"{check.what}: {found}")
    return passed


def import_object(reference: str) -> str:
    """Import ``"package.module:attr"`` as uvicorn or Celery would; the reference back."""
    module_name, _, attribute = reference.partition(":")
    target: object = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        target = getattr(target, part)
    return reference


def load_entry_point(group: str, name: str) -> str:
    """Load the entry point ``name`` of ``group`` (a plugin found by name); ``"module:attr"``."""
    found = entry_points(group=group, name=name)
    if not found:
        raise LookupError(f"no {name!r} entry point in group {group!r}")
    point = next(iter(found))
    point.load()
    return str(point.value)


def writable_directory(path: Path) -> str:
    """Check that ``path`` is, or can be made, a directory this process writes to; creates nothing.

    The first existing folder on the way up must be a directory we may write and enter.
    """
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{existing} is not writable by this user (uid {os.getuid()})")
    return str(path)
