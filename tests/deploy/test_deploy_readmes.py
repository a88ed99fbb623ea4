"""The READMEs' settings tables and stated defaults, checked against the Settings classes.

A settings table sits between ``<!-- settings:SOURCE -->`` and ``<!-- /settings:SOURCE -->``;
SOURCE is a service of ``deploy_testkit.SERVICES`` (``execlog-api``) or a settings class by its
dotted path (``execlog_broker.settings.BrokerSettings``). ``<!-- settings:SOURCE complete -->``
marks a table that claims to list every setting of SOURCE. The table is
``| variable | default | meaning |``; a row names one variable, or several joined by `` / `` with
as many defaults joined by `` / ``. A default is written as the environment value that means it,
in backticks (``""`` for empty), or — when it is unset: ``deploy_testkit.format_default``. In
prose, a default is stated as `` `NAME` (default `X`) ``.

Every row's variable must be a setting of SOURCE and its default the code's; a complete table
must list every setting; each service's README has a complete table of that service; a table
with a default column outside the markers, or a default stated another way in a service's
README, is an error, so nothing escapes these checks.
"""

from __future__ import annotations

import importlib
import re
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import pytest
from deploy_testkit import REPO, SERVICES, UNSET, format_default, settings_class, settings_rows
from pydantic_settings import BaseSettings

SERVICE_READMES = {
    "services/api/README.md": "execlog-api",
    "services/log-worker/README.md": "execlog-worker",
}
"""Each service's README, and the service whose settings its prose talks about."""
HEADER = re.compile(r"\| *variable *\| *default *\| *meaning *\|", re.I)
SEPARATOR = re.compile(r"\|(?: *:?-{3,}:? *\|)+")
ROW = re.compile(
    r"\| (?P<names>`[A-Z][A-Z0-9_]*`(?: / `[A-Z][A-Z0-9_]*`)*)"
    r" \| (?P<defaults>.+?) \| (?P<meaning>.*) \|"
)
BLOCK = re.compile(
    r"^<!-- settings:(?P<source>[\w.-]+)(?P<complete> complete)? -->\n(?P<body>.*?)\n"
    r"<!-- /settings:(?P=source) -->$",
    re.S | re.M,
)
PROSE_DEFAULT = re.compile(
    r"`(?P<name>[A-Z][A-Z0-9_]{2,})` (?P<open>\(default )(?P<value>`[^`]*`|—|unset)"
)
ANY_DEFAULT = re.compile(r"\((?i:default) |\b(?i:default) `")
"""What states a default in prose: "(default ..." or "default `...`"."""


def readmes() -> list[Path]:
    """Every README the checks read: the root's, deploy's, the services' and the libraries'."""
    found = [REPO / "README.md", REPO / "deploy" / "README.md"]
    found += sorted(REPO.glob("services/*/README.md")) + sorted(REPO.glob("libs/*/README.md"))
    return [path for path in found if path.is_file()]


def name_of(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def source_class(source: str) -> type[BaseSettings]:
    """The settings class a table documents: a service's Settings, or a class by dotted path."""
    if source in SERVICES:
        return settings_class(source)
    module, _, attr = source.rpartition(".")
    cls: object = getattr(importlib.import_module(module), attr)
    assert isinstance(cls, type), f"{source}: not a class"
    assert issubclass(cls, BaseSettings), f"{source}: not a settings class"
    return cls


class Table(NamedTuple):
    readme: str
    source: str
    complete: bool
    body: str


def tables(text: str, readme: str) -> list[Table]:
    return [
        Table(readme, m["source"], bool(m["complete"]), m["body"]) for m in BLOCK.finditer(text)
    ]


def all_tables() -> list[Table]:
    return [
        t for path in readmes() for t in tables(path.read_text(encoding="utf-8"), name_of(path))
    ]


def table_problems(table: Table) -> list[str]:
    """What is wrong with one settings table: unknown variables, wrong defaults, missing rows."""
    where = f"{table.readme} ({table.source})"
    defaults = dict(settings_rows(source_class(table.source)))
    lines = table.body.strip().splitlines()
    if len(lines) < 3 or not HEADER.fullmatch(lines[0]) or not SEPARATOR.fullmatch(lines[1]):
        return [f"{where}: not a | variable | default | meaning | table"]
    problems: list[str] = []
    listed: list[str] = []
    for line in lines[2:]:
        row = ROW.fullmatch(line)
        if not row:
            problems.append(f"{where}: bad row {line!r}")
            continue
        names = [n.strip("`") for n in row["names"].split(" / ")]
        shown = row["defaults"].split(" / ")
        if len(shown) != len(names):
            problems.append(f"{where}: {len(names)} variables but {len(shown)} defaults: {line!r}")
            continue
        if not row["meaning"].strip():
            problems.append(f"{where}: {names} has no meaning")
        for name, value in zip(names, shown, strict=True):
            listed.append(name)
            if name not in defaults:
                problems.append(f"{where}: {name} is not a setting")
            elif value != format_default(defaults[name]):
                expected = format_default(defaults[name])
                problems.append(f"{where}: {name} shows default {value}, the code's is {expected}")
    duplicated = sorted({n for n in listed if listed.count(n) > 1})
    if duplicated:
        problems.append(f"{where}: listed more than once: {duplicated}")
    if table.complete:
        missing = [name for name in defaults if name not in listed]
        if missing:
            problems.append(f"{where}: claims every setting but lacks {missing}")
    return problems


def prose_problems(text: str, readme: str) -> list[str]:
    """Defaults stated outside the tables: `NAME` (default `X`) must be the code's default; in a
    service's README every stated default must take that form."""
    prose = BLOCK.sub("", text)
    service = SERVICE_READMES.get(readme)
    sources = [service] if service else sorted(SERVICES)
    problems = []
    for match in PROSE_DEFAULT.finditer(prose):
        name, value = match["name"], match["value"]
        if value == "unset":
            value = UNSET
        having = [dict(settings_rows(settings_class(s))) for s in sources]
        having = [d for d in having if name in d]
        if not having:
            problems.append(f"{readme}: {name} is not a setting of {' or '.join(sources)}")
        for defaults in having:
            if value != format_default(defaults[name]):
                expected = format_default(defaults[name])
                problems.append(f"{readme}: {name} (default {value}), the code's is {expected}")
    if service:
        standard = {m.start("open") for m in PROSE_DEFAULT.finditer(prose)}
        for match in ANY_DEFAULT.finditer(prose):
            if match.start() not in standard:
                line = prose[: match.start()].count("\n") + 1
                problems.append(
                    f"{readme}:{line}: a default stated in prose must read `NAME` (default `X`)"
                )
        for match in re.finditer(r"`[A-Z][A-Z0-9_]{2,}` \d[\w.]*", prose):
            line = prose[: match.start()].count("\n") + 1
            problems.append(
                f"{readme}:{line}: {match.group()!r}: put defaults in the settings table or "
                "write `NAME` (default `X`)"
            )
    return problems


def unmarked_default_tables(text: str) -> list[str]:
    """The header of every Markdown table with a default column outside the settings markers."""
    lines = re.sub(r"```.*?```", "", BLOCK.sub("", text), flags=re.S).splitlines()
    headers = []
    for header, below in pairwise(lines):
        if header.startswith("|") and SEPARATOR.fullmatch(below.strip()):
            cells = [c.strip().lower() for c in header.strip().strip("|").split("|")]
            if any(c.startswith("default") for c in cells):
                headers.append(header.strip())
    return headers


# --- the checks ----------------------------------------------------------------------------------


def test_the_readmes_are_in_the_sandbox() -> None:
    names = {name_of(path) for path in readmes()}
    assert set(SERVICE_READMES) <= names, "tests/deploy/BUILD must depend on //:readmes"
    assert "libs/broker/README.md" in names


@pytest.mark.parametrize("table", all_tables(), ids=lambda t: f"{t.readme}:{t.source}")
def test_every_settings_table_row_is_a_real_setting_with_its_real_default(table: Table) -> None:
    problems = table_problems(table)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("readme", sorted(SERVICE_READMES))
def test_each_service_readme_lists_every_setting_of_its_service(readme: str) -> None:
    text = (REPO / readme).read_text(encoding="utf-8")
    complete = [t for t in tables(text, readme) if t.complete]
    assert [t.source for t in complete] == [
        SERVICE_READMES[readme]
    ], f"{readme}: needs one <!-- settings:{SERVICE_READMES[readme]} complete --> table"


def test_every_table_with_defaults_is_a_checked_settings_table() -> None:
    unchecked = []
    for path in readmes():
        text = path.read_text(encoding="utf-8")
        unchecked += [f"{name_of(path)}: {header}" for header in unmarked_default_tables(text)]
    assert (
        not unchecked
    ), "tables with defaults outside <!-- settings:... --> markers:\n" + "\n".join(unchecked)


@pytest.mark.parametrize("path", readmes(), ids=name_of)
def test_defaults_stated_in_prose_are_the_codes(path: Path) -> None:
    problems = prose_problems(path.read_text(encoding="utf-8"), name_of(path))
    assert not problems, "\n".join(problems)


# --- the checks catch what they are for ----------------------------------------------------------


def test_a_wrong_default_in_a_readme_table_is_caught() -> None:
    readme = "services/log-worker/README.md"
    text = (REPO / readme).read_text(encoding="utf-8")
    (table,) = (t for t in tables(text, readme) if t.complete)
    row = re.search(r"^\| `WRITE_METHOD` \| `copy` \|", table.body, re.M)
    assert row, "the worker's table lists WRITE_METHOD with its default `copy`"
    wrong = table._replace(body=table.body.replace(row.group(), "| `WRITE_METHOD` | `unnest` |"))
    assert table_problems(wrong) == [
        f"{readme} (execlog-worker): WRITE_METHOD shows default `unnest`, the code's is `copy`"
    ]
    dropped = table._replace(body=table.body.replace(row.group(), "| `WRITE_MODE` | `copy` |"))
    assert table_problems(dropped) == [
        f"{readme} (execlog-worker): WRITE_MODE is not a setting",
        f"{readme} (execlog-worker): claims every setting but lacks ['WRITE_METHOD']",
    ]


def test_a_wrong_default_in_prose_is_caught() -> None:
    readme = "services/log-worker/README.md"
    assert prose_problems("`WRITE_METHOD` (default `copy`) is fastest.", readme) == []
    assert prose_problems("`WRITE_METHOD` (default `unnest`) is fastest.", readme) == [
        f"{readme}: WRITE_METHOD (default `unnest`), the code's is `copy`"
    ]
    assert len(prose_problems("Default `unnest` (faster at 50 rows).", readme)) == 1
    assert len(prose_problems("Worker: `WORKER_PREFETCH_MULTIPLIER` 16, ...", readme)) == 1


def test_a_settings_table_without_markers_is_caught() -> None:
    table = (
        "| variable | default | meaning |\n| --- | --- | --- |\n| `WRITE_METHOD` | `unnest` | x |\n"
    )
    assert unmarked_default_tables(table) == ["| variable | default | meaning |"]
    marked = f"<!-- settings:execlog-worker -->\n{table}<!-- /settings:execlog-worker -->\n"
    assert unmarked_default_tables(marked) == []
    assert table_problems(tables(marked, "README.md")[0]) == [
        "README.md (execlog-worker): WRITE_METHOD shows default `unnest`, the code's is `copy`"
    ]
