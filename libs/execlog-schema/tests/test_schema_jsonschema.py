"""The committed JSON Schema matches the models and agrees with them on the fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from execlog_schema import jsonschema_export
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.codec import SUPPORTED_MAJORS, batch_to_wire
from execlog_schema.fixtures import iter_invalid, iter_valid
from execlog_schema.jsonschema_export import validator
from execlog_schema.models import SCHEMA_VERSION, LogLevel


@pytest.mark.parametrize("major", sorted(SUPPORTED_MAJORS))
def test_committed_schema_matches_the_models(major: int) -> None:
    expected = jsonschema_export.render(jsonschema_export.generate_schema(major))
    assert jsonschema_export.committed_text(major) == expected, (
        f"{jsonschema_export.schema_filename(major)} is out of date with the models: this is a "
        "contract change. Check it against the versioning policy (README), then run "
        f"`{jsonschema_export.REGENERATE_COMMAND}` and commit the file."
    )


def test_check_command_passes_and_detects_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jsonschema_export.main(["--check"]) == 0
    monkeypatch.setattr(jsonschema_export, "committed_text", lambda major: "{}\n")
    assert jsonschema_export.main(["--check"]) == 1


def test_schema_metadata() -> None:
    schema = jsonschema_export.load_schema()
    assert schema["$schema"] == jsonschema_export.SCHEMA_DIALECT
    assert schema["x-schema-version"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is False
    with pytest.raises(ValueError, match="not supported"):
        jsonschema_export.generate_schema(99)


@pytest.mark.parametrize("fixture", list(iter_valid()), ids=lambda f: f.id)
def test_valid_fixtures_match_the_schema(fixture: Any) -> None:
    errors = list(validator(fixture.major).iter_errors(fixture.data))
    if fixture.name == "newer_minor_unknown_fields":
        # The schema describes what this version emits; a newer minor's extra fields are
        # outside it, and consumers drop them (README, compatibility policy).
        assert errors
        assert all(e.validator == "additionalProperties" for e in errors)
    else:
        assert [e.message for e in errors] == []


_SCHEMA_CANNOT_SAY = {
    # Needs the encoded size, a set of ids, or orjson's limits: checked by the models only.
    "payload_too_large",
    "duplicate_record_ids",
    "payload_nul_value",
    "payload_nul_key",
    "payload_lone_surrogate",
    "payload_int_beyond_64_bit",
    "payload_too_deep",
}


@pytest.mark.parametrize("fixture", list(iter_invalid()), ids=lambda f: f.id)
def test_invalid_fixtures_fail_the_schema_too(fixture: Any) -> None:
    valid = validator(fixture.major).is_valid(fixture.data)
    assert valid is (fixture.name in _SCHEMA_CANNOT_SAY)


def test_builder_output_matches_the_schema() -> None:
    batch = new_batch(
        [
            new_record(
                execution_id="4f1d2c3b-5a69-4e7f-8d90-a1b2c3d4e5f6",
                level=level,
                message="x\x00",
                component="runner",
                payload={"a": [1, {"b": None}]},
            )
            for level in LogLevel
        ],
        make_producer("execlog-api", "0.1.0"),
    )
    assert [e.message for e in validator().iter_errors(batch_to_wire(batch))] == []
