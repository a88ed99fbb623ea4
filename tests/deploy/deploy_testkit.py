"""What the deploy checks share: the services' settings and CLIs, as the code defines them.

Every deployment form (compose, Kubernetes, plain hosts, the operations docs) sets environment
variables and runs CLI commands; these helpers check both against the services' own Settings
classes and click groups, without running anything.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import click
import pytest
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
WORK_TREE = Path(os.environ.get("EXECLOG_REPO_ROOT") or REPO)
"""The whole checkout: under Pants the sandbox (REPO) holds only this test's dependencies."""


class ServiceModules(NamedTuple):
    """Where a service's Settings class and click group live."""

    settings: str
    cli: str


SERVICES: dict[str, ServiceModules] = {
    "execlog-api": ServiceModules("execlog_api.settings", "execlog_api.cli"),
    "execlog-worker": ServiceModules("execlog_worker.settings", "execlog_worker.cli"),
}
"""The services by image (and PEX) name."""
RUNTIME_ENV = frozenset({"PEX_ROOT", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "TZ"})
"""Variables a deployment may set that are not service settings (the runtime reads them)."""
ENTRYPOINT = "/app/venv/pex"
"""The images' ENTRYPOINT: the service's CLI."""
DEPLOYED_COMMANDS = frozenset(
    {
        "execlog-api serve",
        "execlog-api migrate",
        "execlog-worker worker",
        "execlog-worker api",
        "execlog-worker flower",
        "execlog-worker migrate",
    }
)
"""Every CLI command a complete deployment runs (``<service> <command>``)."""


def service_of_image(image: object) -> str | None:
    """The service an image reference (``registry/name:tag``) runs, None if not one of ours."""
    name = str(image).rsplit("/", 1)[-1].partition(":")[0]
    return name if name in SERVICES else None


# --- settings ------------------------------------------------------------------------------------


def settings_class(service: str) -> type[BaseSettings]:
    cls: object = importlib.import_module(SERVICES[service].settings).Settings
    assert isinstance(cls, type)
    assert issubclass(cls, BaseSettings)
    return cls


def env_bases(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variable names (upper-cased) field ``name`` of ``cls`` is read from."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [c.upper() for c in alias.choices if isinstance(c, str)]
    if field.alias:
        return [field.alias.upper()]
    return [(str(cls.model_config.get("env_prefix") or "") + name).upper()]


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable name ``cls`` reads (upper-cased), nested fields included."""
    delimiter = cls.model_config.get("env_nested_delimiter")
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        bases = env_bases(cls, name, field)
        names.update(bases)
        annotation = field.annotation
        if delimiter and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for base in bases:
                names.update(f"{base}{delimiter}{sub}".upper() for sub in annotation.model_fields)
    return names


def settings_rows(cls: type[BaseSettings]) -> list[tuple[str, object]]:
    """(environment variable, default) of every setting, nested models expanded, in order."""
    delimiter = cls.model_config.get("env_nested_delimiter")
    rows: list[tuple[str, object]] = []
    for name, field in cls.model_fields.items():
        env = env_bases(cls, name, field)[0]
        default = field.get_default(call_default_factory=True)
        annotation = field.annotation
        if delimiter and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in annotation.model_fields:
                rows.append((f"{env}{delimiter}{sub}".upper(), getattr(default, sub)))
        else:
            rows.append((env, default))
    return rows


UNSET = "—"
"""How the docs write the default of a setting that is unset by default."""


def format_default(value: object) -> str:
    """How the docs write a default: the environment value that means it, in backticks."""
    if value is None:
        return UNSET
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple | list):
        value = ",".join(str(v) for v in value)
    text = str(value)
    return f"`{text}`" if text else '`""`'


def renamed_names(cls: type[BaseSettings]) -> set[str]:
    """The old variable names ``cls`` still reads (deprecated: no deploy file may set them)."""
    return {name.upper() for name in getattr(cls, "RENAMED", {})}


def load_settings(
    service: str, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> BaseSettings:
    """Instantiate the service's Settings from exactly ``env`` (nothing else leaks in)."""
    cls = settings_class(service)
    with monkeypatch.context() as patch:
        for name in env_names(cls) | renamed_names(cls):
            patch.delenv(name, raising=False)
            patch.delenv(name.lower(), raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        return cls()


def load_known_settings(
    service: str,
    env: Mapping[str, str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    where: str,
    names: Iterable[str] | None = None,
    allowed: frozenset[str] = RUNTIME_ENV,
) -> BaseSettings:
    """Assert every variable a deployment sets (``names``, default ``env``'s) is a setting of
    ``service`` or in ``allowed``, then load the settings from ``env`` (every value must parse)."""
    unknown = set(env if names is None else names) - env_names(settings_class(service)) - allowed
    assert not unknown, f"{where}: {service} has no setting {sorted(unknown)}"
    return load_settings(service, env, monkeypatch)


# --- CLI -----------------------------------------------------------------------------------------


def cli_group(service: str) -> click.Group:
    module = importlib.import_module(SERVICES[service].cli)
    main = getattr(module, "main", None)
    assert isinstance(main, click.Group), f"{module.__name__}: main is not its click group"
    return main


def parse_cli(service: str, argv: list[str]) -> click.Context:
    """Parse ``argv`` like the service's CLI would (options and types), without running it: the
    context of the command it would run (nested groups resolved)."""
    group = cli_group(service)
    return _command_context(group, group.make_context(service, list(argv)), f"{service} {argv}")


def _command_context(group: click.Group, ctx: click.Context, what: str) -> click.Context:
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    if not rest:
        rest = [*getattr(ctx, "protected_args", [])]
    assert rest, f"{what}: no subcommand"
    name, cmd, args = group.resolve_command(ctx, rest)
    assert cmd is not None, f"{what}: unknown command {rest[0]!r}"
    assert name is not None
    sub = cmd.make_context(name, list(args), parent=ctx)
    if isinstance(cmd, click.Group):
        return _command_context(cmd, sub, what)
    assert not sub.args, f"{what}: options the CLI does not know: {sub.args}"
    return sub
