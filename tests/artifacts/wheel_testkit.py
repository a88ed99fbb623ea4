"""Helpers of the wheel and sdist tests: find the built artifacts, read their metadata, and
install a wheel into a fresh virtual environment that sees neither Pants nor the repo's sources.

Under ``./pants test`` the artifacts of ``runtime_package_dependencies`` are at the root of the
sandbox, the working directory, as ``./pants package`` writes them to ``dist/``.
"""

from __future__ import annotations

import ast
import email.parser
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath

LOCKFILE = Path("3rdparty/python/default.lock")
"""The python-default lockfile (pex lock: JSON after a ``//`` comment header)."""
PIP_CACHE = Path.home() / ".cache" / "execlog-wheel-tests"
"""pip's cache, kept between runs so that reinstalls are fast."""
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PIP_TIMEOUT = 600.0
"""Seconds one ``pip install`` may take (a cold cache downloads everything from PyPI)."""
CHILD_TIMEOUT = 120.0

_DROPPED_ENV_PREFIXES = ("PYTHON", "PIP_", "PEX", "__PEX", "VIRTUAL_ENV", "CONDA")
"""What must not reach the venv's processes: Pants' PEX_* (its PEX_EXTRA_SYS_PATH holds the
source roots), PYTHONPATH and friends, an active virtualenv, and machine-wide pip settings."""


def canonical_name(name: str) -> str:
    """A project name normalised as in PEP 503 (``Kombu_Thing`` -> ``kombu-thing``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_artifact(*patterns: str, where: Path | None = None) -> Path:
    """The one file in ``where`` (default: the working directory) matching any of ``patterns``."""
    root = Path.cwd() if where is None else where
    found = sorted({path for pattern in patterns for path in root.glob(pattern)})
    assert len(found) == 1, (
        f"expected exactly one artifact matching {' or '.join(patterns)} in {root}, "
        f"found {[p.name for p in found]}; the directory holds {sorted(os.listdir(root))}"
    )
    return found[0]


def find_lockfile() -> Path:
    """:data:`LOCKFILE`, brought into the sandbox by the ``3rdparty/python:default-lock`` file."""
    path = Path.cwd() / LOCKFILE
    assert (
        path.is_file()
    ), f"{LOCKFILE} is not in the sandbox (declare 3rdparty/python:default-lock)"
    return path


def locked_versions(lockfile: Path) -> dict[str, str]:
    """``{project name: version}`` of every requirement locked in a pex lockfile."""
    text = lockfile.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    lock = json.loads(body)
    resolves = lock["locked_resolves"]
    assert len(resolves) == 1, f"{lockfile}: expected one locked resolve, found {len(resolves)}"
    return {
        canonical_name(str(req["project_name"])): str(req["version"])
        for req in resolves[0]["locked_requirements"]
    }


def write_constraints(path: Path, versions: Mapping[str, str]) -> Path:
    """A pip constraints file pinning ``name==version`` for each of ``versions``."""
    path.write_text("".join(f"{name}=={versions[name]}\n" for name in sorted(versions)))
    return path


def parse_metadata(text: str) -> Message:
    """Core metadata (METADATA, PKG-INFO) as an email message."""
    return email.parser.Parser().parsestr(text, headersonly=True)


def wheel_members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def wheel_metadata(wheel: Path) -> Message:
    """The ``*.dist-info/METADATA`` of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        assert len(names) == 1, f"{wheel.name}: expected one dist-info/METADATA, found {names}"
        return parse_metadata(archive.read(names[0]).decode("utf-8"))


def wheel_record_hashes(wheel: Path) -> dict[str, str]:
    """``{path: sha256=...}`` of the wheel's own files, as its RECORD states them."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/RECORD", n)]
        assert len(names) == 1, f"{wheel.name}: expected one dist-info/RECORD, found {names}"
        return record_hashes(archive.read(names[0]).decode("utf-8").splitlines())


def record_hashes(lines: Iterable[str]) -> dict[str, str]:
    """The files of a RECORD with their hashes, leaving out the dist-info directory (an installer
    adds INSTALLER, REQUESTED, ... there) and byte code (an installer compiles it)."""
    hashes: dict[str, str] = {}
    for line in lines:
        path, _, rest = line.partition(",")
        digest = rest.partition(",")[0]
        if not path or ".dist-info/" in path or "__pycache__" in path:
            continue
        hashes[path] = digest
    return hashes


@dataclass(frozen=True)
class Sdist:
    """What an sdist carries: its files (relative to its top directory) and its metadata."""

    top: str
    files: frozenset[str]
    pkg_info: Message
    requires_txt: str | None
    """``<name>.egg-info/requires.txt``, where setuptools keeps the requirements (None: absent)."""
    setup_py: str | None
    """``setup.py``, which a build of the sdist runs (None: absent)."""


def read_sdist(path: Path) -> Sdist:
    with tarfile.open(path, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        tops = {PurePosixPath(m.name).parts[0] for m in members}
        assert len(tops) == 1, f"{path.name}: expected one top directory, found {sorted(tops)}"
        top = tops.pop()
        files = frozenset(str(PurePosixPath(m.name).relative_to(top)) for m in members)
        assert "PKG-INFO" in files, f"{path.name}: no PKG-INFO in {top}/"

        def text(name: str) -> str:
            extracted = archive.extractfile(f"{top}/{name}")
            assert extracted is not None, f"{path.name}: cannot read {name}"
            return extracted.read().decode("utf-8")

        requires = [f for f in files if re.fullmatch(r"[^/]+\.egg-info/requires\.txt", f)]
        return Sdist(
            top=top,
            files=files,
            pkg_info=parse_metadata(text("PKG-INFO")),
            requires_txt=text(requires[0]) if len(requires) == 1 else None,
            setup_py=text("setup.py") if "setup.py" in files else None,
        )


def setup_py_install_requires(text: str) -> list[str]:
    """The normalised ``install_requires`` of a ``setup(...)`` call with literal arguments (Pants
    writes ``setup(**{...})``), sorted."""
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"):
            continue
        for keyword in node.keywords:
            if keyword.arg is None:
                kwargs = ast.literal_eval(keyword.value)
                if isinstance(kwargs, dict) and "install_requires" in kwargs:
                    return sorted(normalize_requirement(r) for r in kwargs["install_requires"])
            elif keyword.arg == "install_requires":
                return sorted(normalize_requirement(r) for r in ast.literal_eval(keyword.value))
    raise AssertionError("setup.py: no setup(...) call with a literal install_requires")


_REQUIREMENT = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*
    (?:\[(?P<extras>[^\]]*)\])?\s*
    \(?(?P<spec>[^;()]*)\)?\s*
    (?:;\s*(?P<marker>.*))?$""",
    re.VERBOSE,
)


def normalize_requirement(text: str) -> str:
    """A requirement in one spelling, so that ``kombu[redis] (>=5.4)`` (wheel METADATA) and
    ``kombu[redis]>=5.4`` (setuptools' requires.txt) compare equal."""
    match = _REQUIREMENT.match(text)
    assert match is not None, f"not a requirement: {text!r}"
    name = canonical_name(match["name"])
    extras = sorted(e.strip().lower() for e in (match["extras"] or "").split(",") if e.strip())
    spec = ",".join(sorted(s.replace(" ", "") for s in match["spec"].split(",") if s.strip()))
    marker = re.sub(r"\s+", "", (match["marker"] or "").replace("'", '"'))
    return (
        name + (f"[{','.join(extras)}]" if extras else "") + spec + (f";{marker}" if marker else "")
    )


def requirement_name(text: str) -> str:
    match = _REQUIREMENT.match(text)
    assert match is not None, f"not a requirement: {text!r}"
    return canonical_name(match["name"])


def requires_dist(metadata: Message) -> list[str]:
    """The normalised ``Requires-Dist`` entries of core metadata, sorted."""
    return sorted(normalize_requirement(r) for r in metadata.get_all("Requires-Dist") or [])


def parse_requires_txt(text: str) -> list[str]:
    """setuptools' ``requires.txt`` as normalised requirements, sorted (a ``[extra:marker]``
    section becomes the marker the same requirement has in core metadata)."""
    found: list[str] = []
    marker = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        section = re.fullmatch(r"\[(?P<extra>[^:\]]*)(?::(?P<condition>.*))?\]", line)
        if section:
            extra, condition = section["extra"].strip(), (section["condition"] or "").strip()
            parts = [f"({condition})" if condition and extra else condition]
            parts.append(f'extra == "{extra}"' if extra else "")
            marker = " and ".join(p for p in parts if p)
            continue
        found.append(normalize_requirement(f"{line}; {marker}" if marker else line))
    return sorted(found)


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of the venv's processes: ours without Python, PEX or pip settings; pip
    reads no configuration file (the machine's sets a constraint file and other indexes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(overrides)
    return env


def base_python() -> str:
    """The CPython running the tests, not the PEX venv around it (its ``python -m venv`` would
    work too, but a venv of the base interpreter is what a user gets)."""
    base = getattr(sys, "_base_executable", None)
    return base if isinstance(base, str) and base else sys.executable


def run(argv: list[str], *, cwd: Path, timeout: float, what: str) -> str:
    """Run ``argv`` with :func:`child_env`: its stdout, or a failed assertion with its output."""
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{what} failed (exit status {proc.returncode}): {' '.join(argv)}\n"
        f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc.stdout


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment of the tests' CPython, with its own pip."""

    root: Path
    workdir: Path
    """Working directory of its processes: an empty directory, not the sandbox."""

    @classmethod
    def create(cls, root: Path, workdir: Path) -> Venv:
        workdir.mkdir(parents=True, exist_ok=True)
        run(
            [base_python(), "-m", "venv", str(root)],
            cwd=workdir,
            timeout=CHILD_TIMEOUT,
            what="python -m venv",
        )
        return cls(root=root, workdir=workdir)

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def site_packages(self) -> Path:
        out = self.run_script(
            "site_packages", "import sysconfig; print(sysconfig.get_path('purelib'))"
        )
        return Path(out.strip())

    def pip(self, *args: str, what: str) -> str:
        cert = ["--cert", str(SYSTEM_CA_BUNDLE)] if SYSTEM_CA_BUNDLE.exists() else []
        return run(
            [str(self.python), "-m", "pip", *args, "--no-input", *cert],
            cwd=self.workdir,
            timeout=PIP_TIMEOUT,
            what=what,
        )

    def install(self, wheel: Path, *, constraints: Path, find_links: Path) -> str:
        """``pip install wheel``: third-party requirements from PyPI at the locked versions,
        first-party ones from ``find_links`` (the other wheels of the same build)."""
        PIP_CACHE.mkdir(parents=True, exist_ok=True)
        return self.pip(
            "install",
            "--cache-dir",
            str(PIP_CACHE),
            "--constraint",
            str(constraints),
            "--find-links",
            str(find_links),
            str(wheel),
            what=f"pip install {wheel.name}",
        )

    def run_script(self, name: str, code: str, *args: str) -> str:
        """Run ``code`` as ``<workdir>/<name>.py`` in the venv's interpreter, isolated (``-I``:
        PYTHON* variables, the user site and the script's directory are left out of sys.path)."""
        script = self.workdir / f"{name}.py"
        script.write_text(code, encoding="utf-8")
        return run(
            [str(self.python), "-I", str(script), *args],
            cwd=self.workdir,
            timeout=CHILD_TIMEOUT,
            what=f"{script.name} in the venv",
        )
