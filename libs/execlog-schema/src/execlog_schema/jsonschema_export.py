"""The committed JSON Schema of ``LogBatch``, one file per supported major version.

    python -m execlog_schema.jsonschema_export            # print the schema made from the models
    python -m execlog_schema.jsonschema_export --check    # exit 1 if the committed file differs
    python -m execlog_schema.jsonschema_export --write    # regenerate the committed file(s)

Files: ``execlog_schema/schemas/log_batch.v<MAJOR>.json`` (package resources).
:func:`validator` checks JSON against a committed file with jsonschema alone (not the models).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker

from execlog_schema.codec import SUPPORTED_MAJORS
from execlog_schema.models import SCHEMA_MAJOR

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
REGENERATE_COMMAND: Final = "python -m execlog_schema.jsonschema_export --write"


def schema_filename(major: int = SCHEMA_MAJOR) -> str:
    """File name of the committed schema of ``major``."""
    return f"log_batch.v{major}.json"


def generate_schema(major: int = SCHEMA_MAJOR) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12, validation mode) of the ``LogBatch`` of ``major``."""
    try:
        _, model = SUPPORTED_MAJORS[major]
    except KeyError:
        raise ValueError(f"schema major {major} is not supported") from None
    body = model.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:execlog:schema:{schema_filename(major)}",
        **body,
    }


def render(schema: dict[str, Any]) -> str:
    """Stable text form of a schema (what is committed)."""
    return json.dumps(schema, indent=2, ensure_ascii=True) + "\n"


def committed_text(major: int = SCHEMA_MAJOR) -> str:
    """Text of the committed schema file, read as a package resource."""
    resource = resources.files("execlog_schema").joinpath("schemas", schema_filename(major))
    return resource.read_text(encoding="utf-8")


def load_schema(major: int = SCHEMA_MAJOR) -> dict[str, Any]:
    """The committed schema of ``major`` as a dict (for independent validators)."""
    schema: dict[str, Any] = json.loads(committed_text(major))
    return schema


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMAT_CHECKER: Final = FormatChecker()
"""Checks ``date-time`` strictly (jsonschema has no built-in checker for it)."""


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    """RFC 3339 date-time with a mandatory offset."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def validator(major: int = SCHEMA_MAJOR) -> Draft202012Validator:
    """A validator of the committed schema of ``major``, formats checked (independent of the
    pydantic models: what a consumer in another language would check)."""
    schema = load_schema(major)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def source_path(major: int = SCHEMA_MAJOR) -> Path:
    """Path of the committed file in a source checkout (where ``--write`` writes)."""
    return Path(__file__).resolve().parent / "schemas" / schema_filename(major)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m execlog_schema.jsonschema_export", description=__doc__
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the committed schema file(s)")
    mode.add_argument("--check", action="store_true", help="fail if a committed file differs")
    args = parser.parse_args(argv)
    status = 0
    for major in sorted(SUPPORTED_MAJORS):
        text = render(generate_schema(major))
        if args.write:
            path = source_path(major)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        elif args.check:
            try:
                same = committed_text(major) == text
            except FileNotFoundError:
                same = False
            if not same:
                print(
                    f"{schema_filename(major)} differs from the models; "
                    f"review the change, then run: {REGENERATE_COMMAND}",
                    file=sys.stderr,
                )
                status = 1
        else:
            sys.stdout.write(text)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
