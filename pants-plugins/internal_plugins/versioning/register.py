"""Takes a library's version from its `_version.py`, the one place it is stated.

A `python_distribution` names that file with
`python_artifact(version_file="src/pkg/_version.py")` instead of a `version=` literal; this plugin
reads `__version__` from it when Pants generates setup.py.
"""

from __future__ import annotations

import ast

from pants.backend.python.util_rules.package_dists import SetupKwargs, SetupKwargsRequest
from pants.engine.fs import DigestContents, PathGlobs
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import Target
from pants.engine.unions import UnionRule
from pants.option.global_options import GlobMatchErrorBehavior


class VersionFileSetupKwargsRequest(SetupKwargsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return True


def parse_version(source: str, path: str) -> str:
    for node in ast.parse(source, filename=path).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise ValueError(f"{path} does not assign a string literal to __version__")


@rule
async def version_from_file(request: VersionFileSetupKwargsRequest) -> SetupKwargs:
    kwargs = dict(request.explicit_kwargs)
    version_file = kwargs.pop("version_file", None)
    if version_file is None:
        return SetupKwargs(kwargs, address=request.target.address)
    if "version" in kwargs:
        raise ValueError(f"{request.target.address}: give either version or version_file, not both")
    path = f"{request.target.address.spec_path}/{version_file}".lstrip("/")
    contents = await Get(
        DigestContents,
        PathGlobs(
            [path],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin=str(request.target.address),
        ),
    )
    kwargs["version"] = parse_version(contents[0].content.decode(), path)
    return SetupKwargs(kwargs, address=request.target.address)


def rules():
    return [*collect_rules(), UnionRule(SetupKwargsRequest, VersionFileSetupKwargsRequest)]
