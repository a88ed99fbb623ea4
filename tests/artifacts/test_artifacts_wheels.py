"""The library wheels and sdists exactly as ``./pants package`` builds them.

Each library wheel (:data:`LIBRARIES`) is installed with pip into a fresh virtual environment
of its own, with third-party requirements from PyPI at the versions
of ``3rdparty/python/default.lock`` and first-party ones from the same build; then, in that
venv's interpreter, isolated from Pants and the repository's sources, every module of the
package is imported and a short check of its public surface runs. A wheel that does not declare
a requirement it needs at run time fails here (e.g. SQLAlchemy's ``postgresql+asyncpg`` dialect
imports asyncpg by name, kombu's ``redis://`` transport imports redis-py by name: no import
statement of ours shows them). Each sdist must carry what the wheel carries: the same version,
the same requirements and every file of the package (``py.typed`` and data files included).
"""

from __future__ import annotations

import re
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wheel_testkit import (
    Venv,
    canonical_name,
    find_artifact,
    find_lockfile,
    locked_versions,
    parse_requires_txt,
    read_sdist,
    record_hashes,
    requirement_name,
    requires_dist,
    setup_py_install_requires,
    wheel_members,
    wheel_metadata,
    wheel_record_hashes,
    write_constraints,
)

PRELUDE = textwrap.dedent("""
    import importlib
    import importlib.metadata
    import importlib.resources
    import pathlib
    import pkgutil
    import sys
    import sysconfig

    DIST, PACKAGE, VERSION = sys.argv[1], sys.argv[2], sys.argv[3]
    SANDBOX = pathlib.Path(sys.argv[4]).resolve()
    SITE = pathlib.Path(sysconfig.get_path("purelib")).resolve()
    VENV = pathlib.Path(sys.prefix).resolve()

    assert sys.version_info[:2] == (3, 11), f"expected CPython 3.11, got {sys.version}"
    assert sys.prefix != sys.base_prefix, f"not running in a virtual environment: {sys.prefix}"
    LEAKS = [
        p for p in sys.path
        if p and pathlib.Path(p).resolve().is_relative_to(SANDBOX)
        and not pathlib.Path(p).resolve().is_relative_to(VENV)
    ]
    assert not LEAKS, f"sys.path holds directories of the test sandbox: {LEAKS}"


    def load(name):
        module = importlib.import_module(name)
        where = pathlib.Path(module.__file__).resolve()
        assert where.is_relative_to(SITE), (
            f"{name} was imported from {where}, not from the venv's site-packages {SITE}"
        )
        return module


    def raises(exc_type, func, *args, **kwargs):
        try:
            func(*args, **kwargs)
        except exc_type as exc:
            return exc
        raise AssertionError(f"{func.__qualname__}{args} did not raise {exc_type.__name__}")


    PKG = load(PACKAGE)
    MODULES = [PACKAGE] + [
        info.name for info in pkgutil.walk_packages(PKG.__path__, PACKAGE + ".")
    ]
    for name in MODULES:
        load(name)
    assert PKG.__version__ == VERSION, f"{PACKAGE}.__version__ {PKG.__version__} != {VERSION}"
    assert importlib.metadata.version(DIST) == VERSION, importlib.metadata.version(DIST)
    typed = importlib.resources.files(PACKAGE).joinpath("py.typed")
    assert typed.is_file(), f"{PACKAGE}/py.typed is not installed"
    """)
"""Runs first in the venv: argv is (distribution, package, wheel version, sandbox). Imports
every module of the package (from site-packages, nothing from the sandbox) and checks the
version the package, its metadata and the wheel state."""

SCHEMA_CHECK = """
import json
import uuid
from datetime import UTC, datetime

from kombu import serialization

from execlog_schema import (
    SCHEMA_MAJOR, SCHEMA_VERSION, BatchRejected, LogBatch, LogLevel, batch_to_wire, decode_batch,
    encode_batch, register_kombu_json,
)
from execlog_schema.builder import make_producer, new_batch, new_record
from execlog_schema.fixtures import fixture_majors, iter_invalid, iter_valid, manifest
from execlog_schema.jsonschema_export import load_schema, validator

assert SCHEMA_MAJOR in fixture_majors(), f"no fixtures of major {SCHEMA_MAJOR}: {fixture_majors()}"
valid, invalid = list(iter_valid()), list(iter_invalid())
assert len(valid) == len(manifest()["valid"]) > 0, [fx.name for fx in valid]
assert len(invalid) == len(manifest()["invalid"]) > 0, [fx.name for fx in invalid]
for fx in valid:
    batch = decode_batch(fx.data)
    assert decode_batch(encode_batch(batch)) == batch, f"{fx.id}: encode/decode changed the batch"
for fx in invalid:
    error = raises(BatchRejected, decode_batch, fx.data)
    assert fx.expect_reason in error.reason, f"{fx.id}: {error.reason!r}"

record = new_record(
    execution_id=uuid.uuid4(), level="warn", message="disk at 91%", component="runner",
    payload={"disk": "/var", "used": 0.91}, created_at=datetime(2025, 1, 2, tzinfo=UTC),
)
batch = new_batch([record], make_producer("wheel-test", "0"))
assert isinstance(batch, LogBatch) and batch.schema_version == SCHEMA_VERSION
wire = batch_to_wire(batch)
decoded = decode_batch(encode_batch(batch))
assert decoded == batch and decoded.records[0].level is LogLevel.WARNING, decoded
broken = dict(wire, records=[dict(wire["records"][0], level="loud")])
assert "records.0.level" in raises(BatchRejected, decode_batch, broken).reason

register_kombu_json()
content_type, encoding, body = serialization.dumps(wire, serializer="json")
assert (content_type, encoding) == ("application/json", "utf-8"), (content_type, encoding)
assert decode_batch(serialization.loads(body, content_type, encoding)) == batch

schema_file = importlib.resources.files("execlog_schema").joinpath(
    "schemas", f"log_batch.v{SCHEMA_MAJOR}.json"
)
assert json.loads(schema_file.read_text(encoding="utf-8")) == load_schema()
validator().validate(wire)
"""

DB_CHECK = """
import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from execlog_db.engine import PoolSettings, create_engine
from execlog_db.url import redact, to_async_url, to_asyncpg_dsn

url = to_async_url("postgresql://u@h/db")
assert url == "postgresql+asyncpg://u@h/db", url
assert to_async_url("postgres://u:pw@h:5433/db") == "postgresql+asyncpg://u:pw@h:5433/db"
assert to_asyncpg_dsn("postgresql+asyncpg://u@h/db") == "postgresql://u@h/db"
assert "secret" not in redact("postgresql://u:secret@h/db")
raises(ValueError, to_async_url, "mysql://u@h/db")

# No connection is made: creating the engine loads the dialect, which imports asyncpg by name.
engine = create_async_engine(url)
assert engine.dialect.driver == "asyncpg", engine.dialect.driver
asyncio.run(engine.dispose())
pool = PoolSettings(pool_size=2, max_overflow=0)
engine = create_engine("postgresql://u@h/db", **pool.model_dump())
assert isinstance(engine, AsyncEngine) and engine.pool.size() == 2, engine.pool.status()
asyncio.run(engine.dispose())
"""

BROKER_CHECK = """
import kombu

from execlog_broker.settings import BrokerSettings
from execlog_broker.transport import transport_options
from execlog_broker.url import build_url, check_url, redact

assert build_url("h", 6380, 2, "p@ss") == "redis://:p%40ss@h:6380/2"
assert build_url("h", 6379, 0) == "redis://h:6379/0"
assert check_url("rediss://h:6379/0") == "rediss://h:6379/0" and check_url("") is None
raises(ValueError, check_url, "http://h:6379/0")
assert "p%40ss" not in redact(build_url("h", 6379, 0, "p@ss"))
assert transport_options(key_prefix="t1:", sentinel_master="m", sentinel_password="pw") == {
    "body_encoding": "utf-8",
    "master_name": "m",
    "sentinel_kwargs": {"password": "pw"},
    "global_keyprefix": "t1:",
}
# Arguments win over the environment; a blank REDIS_URL means unset: built from the parts.
settings = BrokerSettings(
    redis_host="h", redis_port=6380, redis_db=1, redis_url="", broker_key_prefix="p:"
)
assert settings.broker_url == "redis://h:6380/1", settings.broker_url
assert settings.broker_transport_options["global_keyprefix"] == "p:"

# Resolving the transport imports kombu's Redis transport, which needs redis-py; no connection.
connection = kombu.Connection("redis://127.0.0.1:6379/0")
transport = connection.transport
assert type(transport).__module__ == "kombu.transport.redis", type(transport)
assert transport.driver_name == "redis", transport.driver_name
connection.release()
"""

SERVICE_CHECK = """
import json
import logging
import os
import tempfile
import warnings
from typing import ClassVar

import structlog

from execlog_service.startup import Check, StartupCheckError, import_object, run_checks
from execlog_service.log_setup import configure_logging, get_logger
from execlog_service.settings import ServiceSettings


class Example(ServiceSettings):
    RENAMED: ClassVar[dict[str, str]] = {"OLD_WHEEL_CHECK": "wheel_check"}
    wheel_check: int = 1


os.environ["OLD_WHEEL_CHECK"] = "2"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert Example().wheel_check == 2
assert str(caught[0].message) == "OLD_WHEEL_CHECK is deprecated: use WHEEL_CHECK", caught
os.environ["WHEEL_CHECK"] = ""
assert Example().wheel_check == 2, "a blank variable is unset"

assert run_checks([Check("app", lambda: import_object("json:dumps"))]) == ["app: json:dumps"]
try:
    run_checks([Check("database driver", lambda: import_object("no_such_driver_xyz"))])
except StartupCheckError as exc:
    assert "module 'no_such_driver_xyz' is not installed" in str(exc), exc
else:
    raise AssertionError("a missing module passed the startup checks")

with tempfile.NamedTemporaryFile("r", suffix=".log") as logfile:
    configure_logging("json", "INFO", logfile.name)
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        get_logger("execlog.check").info("one line")
    for handler in logging.getLogger().handlers:
        handler.flush()
    line = json.loads(logfile.read().splitlines()[0])
    assert (line["event"], line["request_id"], line["level"]) == ("one line", "r-1", "info"), line
"""

PRODUCER_CHECK = """
import asyncio
import os
import socket
import tempfile
import uuid

from execlog_producer import ExecutionLogger, ProducerSettings, logger_from_settings
from execlog_schema.codec import decode_batch

os.environ["EXECLOG_BUFFER_SIZE"] = "3"
assert ProducerSettings().buffer_size == 3, "EXECLOG_BUFFER_SIZE was not read"

with socket.socket() as probe:  # a port nothing listens on: the broker is down
    probe.bind(("127.0.0.1", 0))
    unused_port = probe.getsockname()[1]

with tempfile.TemporaryDirectory() as spool:
    settings = ProducerSettings(
        redis_url=f"redis://127.0.0.1:{unused_port}/0",
        broker_publish_max_retries=0,
        http_fallback=False,
        spool_dir=spool,
        service_name="wheel-check",
    )
    logger = logger_from_settings(settings)
    assert isinstance(logger, ExecutionLogger)
    record = logger.log(uuid.uuid4(), "INFO", "from the wheel", payload={"token": "t", "n": 1})
    asyncio.run(logger.flush(timeout=60))
    logger.close(timeout=30)
    lines = [
        line
        for path in sorted(pathlib.Path(spool).glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    spooled = [r for line in lines for r in decode_batch(line).records]
    assert [r.id for r in spooled] == [record.id], (record.id, spooled)
    assert spooled[0].payload == {"token": "[REDACTED]", "n": 1}, spooled[0].payload
    assert logger.metrics.dropped_total() == 0
"""


@dataclass(frozen=True)
class Library:
    """A library as its artifacts name it, and the check its installed wheel must pass."""

    dist: str
    """Distribution name (``execlog-schema``); the test id."""
    check: str

    @property
    def package(self) -> str:
        return self.dist.replace("-", "_")

    def wheel(self) -> Path:
        return find_artifact(f"{self.package}-*.whl")

    def sdist(self) -> Path:
        # setuptools spells the file name with the project name as given or normalised.
        return find_artifact(f"{self.dist}-*.tar.gz", f"{self.package}-*.tar.gz")


LIBRARIES = [
    Library("execlog-schema", SCHEMA_CHECK),
    Library("execlog-db", DB_CHECK),
    Library("execlog-broker", BROKER_CHECK),
    Library("execlog-service", SERVICE_CHECK),
    Library("execlog-producer", PRODUCER_CHECK),
]
BY_DIST = {lib.dist: lib for lib in LIBRARIES}


def first_party_closure(dist: str) -> set[str]:
    """``dist`` and the first-party distributions it requires, transitively, per the wheels."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in wheel_metadata(BY_DIST[name].wheel()).get_all("Requires-Dist") or []:
            if requirement_name(req) in BY_DIST:
                todo.append(requirement_name(req))
    return seen


@pytest.fixture(scope="module")
def constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Constraints pinning every locked requirement: the versions we ship with."""
    versions = locked_versions(find_lockfile())
    assert not set(versions) & set(BY_DIST), "first-party projects in the third-party lockfile"
    return write_constraints(tmp_path_factory.mktemp("pip") / "constraints.txt", versions)


@pytest.fixture()
def scratch() -> Iterator[Path]:
    """A directory outside the sandbox, removed afterwards (a venv is 50-150 MB)."""
    with tempfile.TemporaryDirectory(prefix="execlog-wheel-") as tmp:
        yield Path(tmp)


@pytest.mark.timeout(840)
@pytest.mark.parametrize("lib", LIBRARIES, ids=[lib.dist for lib in LIBRARIES])
def test_wheel_installs_alone_and_works(lib: Library, constraints: Path, scratch: Path) -> None:
    """The wheel, alone in a fresh venv, pulls what it needs and passes its library's check."""
    sandbox = Path.cwd().resolve()
    assert not scratch.resolve().is_relative_to(sandbox), f"{scratch} lies in the sandbox"
    wheel = lib.wheel()
    metadata = wheel_metadata(wheel)
    version = metadata["Version"]
    assert canonical_name(metadata["Name"]) == lib.dist, metadata["Name"]
    assert wheel.name.startswith(f"{lib.package}-{version}-"), (wheel.name, version)

    venv = Venv.create(scratch / "venv", scratch / "work")
    venv.install(wheel, constraints=constraints, find_links=sandbox)
    venv.pip("check", what=f"pip check after installing {wheel.name}")

    # Exactly the first-party distributions it declares, each the very wheel Pants built.
    site = venv.site_packages()
    installed = {
        canonical_name(info.name.split("-", 1)[0]): info
        for info in site.glob("*.dist-info")
        if canonical_name(info.name).startswith("execlog-")
    }
    declared = first_party_closure(lib.dist)
    assert set(installed) == declared, (
        f"first-party distributions installed with {wheel.name}: {sorted(installed)}, "
        f"declared: {sorted(declared)}"
    )
    for dist, info in installed.items():
        hashes = record_hashes((info / "RECORD").read_text(encoding="utf-8").splitlines())
        built = wheel_record_hashes(BY_DIST[dist].wheel())
        assert hashes == built, f"{dist} installed in the venv is not the wheel Pants built"

    script = PRELUDE + textwrap.dedent(lib.check) + "\nprint('OK', len(MODULES), 'modules')\n"
    out = venv.run_script(
        f"check_{lib.package}", script, lib.dist, lib.package, version, str(sandbox)
    )
    assert re.search(r"^OK \d+ modules$", out, re.MULTILINE), out


@pytest.mark.parametrize("lib", LIBRARIES, ids=[lib.dist for lib in LIBRARIES])
def test_sdist_carries_what_the_wheel_carries(lib: Library) -> None:
    """The sdist states the wheel's version and requirements and holds all its package files."""
    wheel, sdist_path = lib.wheel(), lib.sdist()
    metadata = wheel_metadata(wheel)
    sdist = read_sdist(sdist_path)
    name = sdist_path.name

    assert canonical_name(sdist.pkg_info["Name"]) == lib.dist, sdist.pkg_info["Name"]
    sdist_version, wheel_version = sdist.pkg_info["Version"], metadata["Version"]
    assert sdist_version == wheel_version, f"{name}: version {sdist_version}, wheel {wheel_version}"
    assert sdist.pkg_info["Requires-Python"] == metadata["Requires-Python"]

    # Requirements: the same as the wheel's wherever the sdist states them. Its PKG-INFO
    # (Metadata-Version 2.1, written by the setuptools Pants runs) leaves them out, so installers
    # build the sdist: setup.py's install_requires, also recorded in the egg-info's requires.txt.
    wheel_requires = requires_dist(metadata)
    assert wheel_requires, f"{wheel.name} declares no requirements"
    assert sdist.setup_py is not None, f"{name} has no setup.py: {sorted(sdist.files)}"
    assert sdist.requires_txt is not None, f"{name} has no egg-info requires.txt"
    stated = {
        "setup.py install_requires": setup_py_install_requires(sdist.setup_py),
        "egg-info requires.txt": parse_requires_txt(sdist.requires_txt),
    }
    if sdist.pkg_info.get_all("Requires-Dist"):
        stated["PKG-INFO Requires-Dist"] = requires_dist(sdist.pkg_info)
    for where, requires in stated.items():
        assert requires == wheel_requires, f"{name}: {where} differs from {wheel.name} METADATA"

    # Files: every file of the wheel's package (sources, py.typed, data files) is in the sdist.
    package_files = {m for m in wheel_members(wheel) if not re.match(r"[^/]+\.dist-info/", m)}
    for needed in ("__init__.py", "_version.py", "py.typed"):
        assert f"{lib.package}/{needed}" in package_files, f"{wheel.name} lacks {needed}"
    missing = sorted(package_files - sdist.files)
    assert not missing, f"{name} lacks files the wheel has: {missing}"
