"""The docs that show the release tool: every ``./pants run deploy/release -- ...`` they show is a
real command with real options, and the README states the filters the tool really uses."""

from __future__ import annotations

import re
import shlex

import click
import pytest
from release_testkit import repo_root

from execlog_release import cli
from execlog_release.release import SERVICE_FILTERS

DOCS = ["README.md", "deploy/README.md", "docs/operations.md", "docs/operations.zh-CN.md"]
_COMMAND = re.compile(r"\./pants run deploy/release -- ([^`\n#]+)")


def shown_commands(doc: str) -> list[list[str]]:
    text = (repo_root() / doc).read_text(encoding="utf-8")
    return [shlex.split(match.strip().rstrip(";")) for match in _COMMAND.findall(text)]


@pytest.mark.parametrize("doc", DOCS)
def test_every_release_command_shown_parses(doc: str) -> None:
    commands = shown_commands(doc)
    assert commands, f"{doc} shows no release command"
    for argv in commands:
        command = cli.main.commands.get(argv[0])
        assert command is not None, f"{doc}: no release command {argv[0]!r}"
        try:
            command.make_context(argv[0], argv[1:])
        except click.UsageError as exc:
            pytest.fail(f"{doc}: {' '.join(argv)}: {exc}")


def test_readme_states_the_filters_the_tool_uses() -> None:
    readme = (repo_root() / "README.md").read_text(encoding="utf-8")
    assert f"`{' '.join(SERVICE_FILTERS)}`" in readme
    assert "`./pants --changed-since=REF --changed-dependents=transitive list`" in readme
