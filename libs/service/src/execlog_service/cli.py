"""click glue the services' command lines share: settings errors, startup checks, ``--check``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import click

from execlog_service.startup import Check, StartupCheckError, run_checks

T = TypeVar("T")

check_option = click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Check the settings and what this command loads at run time, say what was found, exit.",
)
"""The ``--check`` flag of a command that runs :func:`preflight` (a dry run for deploy files)."""


def load_settings(factory: Callable[[], T]) -> T:
    """``factory()``; an invalid setting becomes one line and exit status 1."""
    try:
        return factory()
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise click.ClickException(f"invalid configuration: {message}") from None


def preflight(command: str, checks: Iterable[Check], check_only: bool) -> bool:
    """Run ``checks`` before ``command`` starts; True when the command should stop here.

    A failed check is one line (``<command>: <what>: ...``) and exit status 1. With
    ``check_only`` the checks found are printed on one line and the caller returns.
    """
    try:
        passed = run_checks(checks)
    except StartupCheckError as exc:
        raise click.ClickException(f"{command}: {exc}") from None
    if check_only:
        click.echo(f"{command}: ok ({'; '.join(passed)})")
    return check_only
