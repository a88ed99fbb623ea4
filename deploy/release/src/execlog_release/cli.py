"""``execlog-release`` command line: ``affected`` and ``package``.

Run it as ``./pants run deploy/release -- COMMAND ...``.

``affected --since REF`` prints the service PEX targets a change since REF affects, one a line
(``--json``: a JSON list). ``package --since REF`` packages only those and writes the manifest
(target, file, sha256, size of each) to ``dist/release-manifest.json``; it prints one line per
artifact (``--json``: the manifest). Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from execlog_release._version import __version__
from execlog_release.release import (
    MANIFEST,
    ReleaseError,
    Runner,
    affected_targets,
    check_repo,
    find_repo,
    release,
    run_process,
    stderr_runner,
    write_manifest,
)

_since = click.option(
    "--since",
    "since",
    required=True,
    metavar="REF",
    help="Git revision to compare with (a branch, tag or commit), e.g. origin/main.",
)
_repo = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The checkout to run Pants in (default: the one around the current directory).",
)
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_pants_option = click.option(
    "--pants-option",
    "pants_options",
    multiple=True,
    metavar="OPTION",
    help="A global Pants option to add, e.g. --pants-option=--no-local-cache (repeatable).",
)
_verbose = click.option("-v", "--verbose", is_flag=True, help="Show Pants' log as it runs.")


def _checkout(repo: Path | None) -> Path:
    return check_repo(repo) if repo is not None else find_repo(Path.cwd())


def _runner(verbose: bool) -> Runner:
    return stderr_runner if verbose else run_process


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="execlog-release")
def main() -> None:
    """Which service PEXes a change affects, and packaging only those."""


@main.command()
@_since
@_repo
@_json
@_pants_option
@_verbose
def affected(
    since: str, repo: Path | None, as_json: bool, pants_options: Sequence[str], verbose: bool
) -> None:
    """Print the service PEX targets changed since REF or depending on what changed."""
    try:
        targets = affected_targets(
            _checkout(repo), since, run=_runner(verbose), pants_options=pants_options
        )
    except ReleaseError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(targets))
    else:
        for target in targets:
            click.echo(target)


@main.command()
@_since
@_repo
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Where to write the manifest (default: {MANIFEST} in the checkout).",
)
@_json
@_pants_option
@_verbose
def package(
    since: str,
    repo: Path | None,
    manifest: Path | None,
    as_json: bool,
    pants_options: Sequence[str],
    verbose: bool,
) -> None:
    """Package only the service PEXes affected since REF and write their manifest."""
    try:
        checkout = _checkout(repo)
        built = release(checkout, since, run=_runner(verbose), pants_options=pants_options)
    except ReleaseError as exc:
        raise click.ClickException(str(exc)) from None
    path = manifest if manifest is not None else checkout / MANIFEST
    write_manifest(path, built)
    if as_json:
        click.echo(json.dumps(built, indent=2))
    else:
        for artifact in built["artifacts"]:
            click.echo(f"{artifact['target']} {artifact['path']} {artifact['sha256']}")
    click.echo(
        f"{len(built['artifacts'])} service(s) affected since {since}; manifest: {path}", err=True
    )
