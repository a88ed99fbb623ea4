"""run_checks: what passes, and the one line a missing module or a bad value gives."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from execlog_service.startup import (
    Check,
    StartupCheckError,
    import_object,
    load_entry_point,
    run_checks,
    writable_directory,
)


def test_passing_checks_say_what_they_found_in_order() -> None:
    assert run_checks([Check("a", lambda: "one"), Check("b", lambda: "two")]) == [
        "a: one",
        "b: two",
    ]


def test_a_missing_module_names_the_module_and_stops() -> None:
    later: list[str] = []

    def later_check() -> str:
        later.append("ran")
        return "x"

    with pytest.raises(StartupCheckError) as caught:
        run_checks(
            [
                Check("database driver", lambda: import_object("no_such_driver_xyz")),
                Check("after", later_check),
            ]
        )
    message = str(caught.value)
    assert message == (
        "database driver: module 'no_such_driver_xyz' is not installed "
        "(this build lacks a dependency)"
    )
    assert "\n" not in message
    assert later == []


def test_a_bad_value_is_one_line_with_its_type() -> None:
    def bad() -> str:
        raise ValueError("REDIS_URL must start with redis://")

    with pytest.raises(StartupCheckError, match=r"^broker: ValueError: REDIS_URL must start"):
        run_checks([Check("broker", bad)])


def test_import_object_reaches_attributes_and_reports_a_missing_one() -> None:
    assert import_object("os.path:join") == "os.path:join"
    with pytest.raises(StartupCheckError, match=r"^app: AttributeError: .*no_such_factory"):
        run_checks([Check("app", lambda: import_object("os.path:no_such_factory"))])


def test_load_entry_point_finds_an_installed_plugin_and_reports_an_absent_one() -> None:
    (declared,) = entry_points(group="console_scripts", name="pytest")
    assert load_entry_point("console_scripts", "pytest") == declared.value
    with pytest.raises(StartupCheckError, match=r"^flower: LookupError: no 'nope' entry point"):
        run_checks([Check("flower", lambda: load_entry_point("celery.commands", "nope"))])


def test_writable_directory_creates_nothing_and_names_what_is_wrong(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert writable_directory(target) == str(target)
    assert not (tmp_path / "a").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StartupCheckError, match=r"^spool directory: ValueError: .*file is not a"):
        run_checks([Check("spool directory", lambda: writable_directory(blocker / "spool"))])
