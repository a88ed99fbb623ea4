"""Golden fixtures: loader API, and the consumer's verdict on each of them."""

from __future__ import annotations

import pytest

from execlog_schema.codec import SUPPORTED_MAJORS, decode_batch, encode_batch
from execlog_schema.errors import BatchRejected
from execlog_schema.fixtures import Fixture, fixture_majors, iter_invalid, iter_valid, manifest
from execlog_schema.fixtures.generate import invalid_cases, valid_cases
from execlog_schema.models import SCHEMA_MAJOR

VALID = [f for major in fixture_majors() for f in iter_valid(major)]
INVALID = [f for major in fixture_majors() for f in iter_invalid(major)]


def test_every_supported_major_has_fixtures() -> None:
    assert set(SUPPORTED_MAJORS) <= set(fixture_majors())
    assert len(VALID) >= 10
    assert len(INVALID) >= 30


def test_version_spellings_select_the_same_fixtures() -> None:
    names = [f.name for f in iter_valid(SCHEMA_MAJOR)]
    assert names == [f.name for f in iter_valid("1.0")] == [f.name for f in iter_valid("v1")]
    with pytest.raises(ValueError, match="not a schema version"):
        list(iter_valid("one"))


def test_manifest_describes_every_fixture() -> None:
    data = manifest(SCHEMA_MAJOR)
    assert set(data["valid"]) == {f.name for f in iter_valid()}
    assert set(data["invalid"]) == {f.name for f in iter_invalid()}
    assert all(f.description for f in VALID + INVALID)
    assert all(f.expect_reason for f in INVALID)


def test_generator_cases_are_all_committed() -> None:
    assert set(valid_cases()) == {f.name for f in iter_valid()}
    assert set(invalid_cases()) == {f.name for f in iter_invalid()}


def test_fixture_data_is_a_fresh_copy() -> None:
    fixture = next(iter_valid())
    fixture.data["records"] = []
    assert fixture.data["records"]


def test_required_coverage() -> None:
    names = {f.name for f in VALID}
    assert {"minimal", "maximal", "unicode", "every_level", "edge_max_records"} <= names
    levels = {r["level"] for r in next(f for f in VALID if f.name == "every_level").data["records"]}
    assert levels == {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


@pytest.mark.parametrize("fixture", VALID, ids=lambda f: f.id)
def test_valid_fixture_is_accepted(fixture: Fixture) -> None:
    batch = decode_batch(fixture.data)
    assert len(batch.records) == len(fixture.data["records"])
    assert decode_batch(encode_batch(batch)) == batch


@pytest.mark.parametrize("fixture", INVALID, ids=lambda f: f.id)
def test_invalid_fixture_is_rejected_with_its_reason(fixture: Fixture) -> None:
    with pytest.raises(BatchRejected) as info:
        decode_batch(fixture.data)
    assert fixture.expect_reason is not None
    assert fixture.expect_reason in info.value.reason
