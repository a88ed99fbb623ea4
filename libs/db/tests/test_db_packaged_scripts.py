"""packaged_scripts: the Alembic folder of a package as a directory, also from a zip."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from execlog_db.migrations import packaged_scripts


def test_a_zipped_package_is_copied_out_for_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_pkg/__init__.py", "")
        zf.writestr("zipped_pkg/migrations/env.py", "# env\n")
        zf.writestr("zipped_pkg/migrations/versions/0001_a.py", "revision = '0001'\n")
        zf.writestr("zipped_pkg/migrations/__pycache__/env.cpython-311.pyc", b"\0")
    monkeypatch.syspath_prepend(str(archive))
    monkeypatch.delitem(sys.modules, "zipped_pkg", raising=False)
    with packaged_scripts("zipped_pkg") as location:
        folder = Path(location)
        assert (folder / "env.py").read_text() == "# env\n"
        assert (folder / "versions" / "0001_a.py").is_file()
        assert not (folder / "__pycache__").exists()
    assert not folder.exists()


def test_a_package_on_disk_is_used_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "disk_pkg"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with packaged_scripts("disk_pkg") as location:
        assert Path(location) == package / "migrations"
    assert (package / "migrations").is_dir()
