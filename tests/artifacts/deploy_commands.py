"""The command lines in ``deploy/`` that run one of our PEXes, parsed out of the deploy files.

Each deployment form names the PEX and its arguments its own way; this module reads them all into
one shape, :class:`DeployCommand` (which PEX, the arguments after it, the environment the deploy
file gives that process), and builds the invocation ``test_artifacts_deploy_commands`` runs:

- Dockerfiles (``deploy/compose/*.Dockerfile``): ``ENTRYPOINT`` + ``CMD``; the entrypoint
  ``/app/venv/pex`` is the venv of the PEX the Dockerfile's ``COPY dist/...pex`` line installs.
- compose (``docker-compose.yml``, and each ``docker-compose.*.yml`` merged on top of it as
  ``docker compose -f docker-compose.yml -f <overlay>`` does): every service's ``command`` (after
  its image's entrypoint) and healthcheck ``test`` that runs ``/app/venv/pex``; ``${VAR:-default}``
  takes the default.
- Kubernetes (``k8s/base/**`` and ``k8s/overlays/*/``): containers' ``command``/``args`` and
  ``exec`` probes and hooks; the image name says which PEX; an overlay patch is merged onto the
  base object it patches (containers by name).
- systemd (``systemd/*.service``): ``ExecStart=`` and the other ``Exec*=`` lines naming
  ``/opt/execlog/bin/<pex>``; specifiers (``%i``, ``%H``...) get sample values.
- Supervisor (``supervisor/execlog.conf``): each program's ``command=``, once per process
  (``numprocs``), after ``execlog-env-exec FILE... --``.

Environment files named as ``/etc/execlog/<name>`` are read from ``deploy/env/<name>.example``.
"""

from __future__ import annotations

import configparser
import copy
import json
import re
import shlex
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from kustomize_merge import strategic_merge

API_PEX = "execlog-api.pex"
WORKER_PEX = "execlog-worker.pex"
PEXES = (API_PEX, WORKER_PEX)

PEX_IN_DIST = {
    API_PEX: "services.api/execlog-api.pex",
    WORKER_PEX: "services.log-worker/execlog-worker.pex",
}
"""Where ``./pants package`` (and ``runtime_package_dependencies``) puts each PEX."""

IMAGE_ENTRYPOINT = "/app/venv/pex"
"""The images' ENTRYPOINT: the venv the PEX built at image build time (the same CLI)."""
HOST_BIN = PurePosixPath("/opt/execlog/bin")
"""Where the systemd units and the Supervisor config install the PEX files."""
HOST_ENV_DIR = PurePosixPath("/etc/execlog")
"""Where the hosts keep the env files whose examples are ``deploy/env/<name>.example``."""
ENV_EXEC = "execlog-env-exec"

SETTINGS_EXAMPLE = {API_PEX: "api.env.example", WORKER_PEX: "log-worker.env.example"}
"""Each PEX's settings file example (``deploy/env/``): the base of the environment it gets."""

CHECKED_SUBCOMMANDS = {
    API_PEX: frozenset({"serve", "migrate"}),
    WORKER_PEX: frozenset({"worker", "api", "flower", "migrate"}),
}
"""The long-running and migration commands, which take ``--check``; the others get ``--help``."""
CHECK_OPTION = "--check"
HELP_OPTION = "--help"

SAMPLE_SECRET = "sample-secret"
SAMPLE_HOSTNAME = "host1"
SAMPLE_SYSTEMD_INSTANCE = "logs1"
"""The instance of a template unit (execlog.target enables ``execlog-worker@logs1``)."""

SYSTEMD_EXEC_KEYS = (
    "ExecCondition",
    "ExecStartPre",
    "ExecStart",
    "ExecStartPost",
    "ExecReload",
    "ExecStop",
    "ExecStopPost",
)
K8S_PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
K8S_HOOKS = ("postStart", "preStop")


@dataclass(frozen=True)
class DeployCommand:
    """One command line of a deploy file that runs one of our PEXes."""

    id: str
    """``<file under deploy/>:<what>``, e.g. ``systemd/execlog-api.service:ExecStart``."""
    kind: str
    """dockerfile, compose, k8s, systemd or supervisor."""
    path: str
    """The deploy file, relative to ``deploy/``."""
    pex: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    """What the deploy file sets in this process's environment (env files included)."""
    secrets: frozenset[str] = frozenset()
    """Variables set from a secret kept out of the repository (Kubernetes secretKeyRef)."""

    @property
    def subcommand(self) -> tuple[str, ...]:
        """The (possibly nested) command names: the leading arguments that are not options."""
        names: list[str] = []
        for arg in self.args:
            if arg.startswith("-"):
                break
            names.append(arg)
        return tuple(names)

    def probe_argv(self) -> list[str]:
        """The arguments to run: ``--check`` for a checked command, else ``--help``."""
        names = self.subcommand
        checked = bool(names) and names[0] in CHECKED_SUBCOMMANDS[self.pex]
        return [*self.args, CHECK_OPTION if checked else HELP_OPTION]


# --- shared file formats ----------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as ``execlog-env-exec`` and systemd read them (quotes, comments, blanks)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        words = shlex.split(line, comments=True)
        if not words:
            continue
        key, sep, value = words[0].partition("=")
        if len(words) != 1 or not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"{path}:{number}: not a KEY=value line: {raw!r}")
        env[key] = value
    return env


def host_env_file(deploy: Path, host_path: str) -> Path | None:
    """A host env file's example: ``/etc/execlog/api.env`` -> ``deploy/env/api.env.example``."""
    path = PurePosixPath(host_path)
    if path.parent != HOST_ENV_DIR:
        raise ValueError(f"env file {host_path} is not under {HOST_ENV_DIR}")
    example = deploy / "env" / f"{path.name}.example"
    return example if example.is_file() else None


def load_env_files(deploy: Path, names: Sequence[str], where: str) -> dict[str, str]:
    """Env files in order, later ones winning; a name starting with ``-`` is optional."""
    env: dict[str, str] = {}
    for name in names:
        optional = name.startswith("-")
        example = host_env_file(deploy, name.removeprefix("-"))
        if example is None:
            if optional:
                continue
            raise ValueError(f"{where}: env file {name} has no example in deploy/env/")
        env.update(read_env_file(example))
    return env


def pex_of_host_path(word: str) -> str | None:
    """``/opt/execlog/bin/execlog-api.pex`` -> ``execlog-api.pex``; None for anything else."""
    path = PurePosixPath(word)
    return path.name if path.parent == HOST_BIN and path.name in PEXES else None


def pex_of_image(image: object) -> str | None:
    """``registry.example.com/execlog/execlog-api:0.1.0`` -> ``execlog-api.pex``."""
    name = str(image).rsplit("/", 1)[-1].partition("@")[0].partition(":")[0]
    pex = f"{name}.pex"
    return pex if pex in PEXES else None


def _strings(values: object, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str | int | float) for v in values):
        raise ValueError(f"{where}: expected a list of strings, got {values!r}")
    return [str(v) for v in values]


# --- Dockerfiles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dockerfile:
    """What a service Dockerfile says about the PEX it runs."""

    path: Path
    pex: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: Mapping[str, str]


def _dockerfile_instructions(path: Path) -> Iterator[tuple[str, str]]:
    logical = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        if logical.strip():
            keyword, _, rest = logical.strip().partition(" ")
            yield keyword.upper(), rest.strip()
        logical = ""
    if logical.strip():
        keyword, _, rest = logical.strip().partition(" ")
        yield keyword.upper(), rest.strip()


def _exec_form(value: str, where: str) -> tuple[str, ...]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return ("/bin/sh", "-c", value)  # shell form
    return tuple(_strings(parsed, where))


def parse_dockerfile(path: Path) -> Dockerfile:
    """ENV, ENTRYPOINT, CMD and the PEX (from its ``COPY ... dist/<dir>/<name>.pex`` line)."""
    pex: str | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = {}
    for keyword, rest in _dockerfile_instructions(path):
        if keyword == "COPY":
            for word in shlex.split(rest):
                match = re.fullmatch(r"dist/[^/]+/([^/]+\.pex)", word)
                if match and match.group(1) in PEXES:
                    if pex is not None and pex != match.group(1):
                        raise ValueError(f"{path}: copies two PEXes ({pex}, {match.group(1)})")
                    pex = match.group(1)
        elif keyword == "ENV":
            words = shlex.split(rest)
            if words and "=" not in words[0]:  # legacy form: ENV KEY value
                env[words[0]] = " ".join(words[1:])
            else:
                for word in words:
                    key, _, value = word.partition("=")
                    env[key] = value
        elif keyword == "ENTRYPOINT":
            entrypoint = _exec_form(rest, f"{path}: ENTRYPOINT")
            cmd = ()  # an ENTRYPOINT resets the CMD inherited from the base image
        elif keyword == "CMD":
            cmd = _exec_form(rest, f"{path}: CMD")
    if pex is None:
        raise ValueError(f"{path}: no COPY of {' or '.join(PEXES)} from dist/")
    return Dockerfile(path, pex, entrypoint, cmd, env)


def pex_args(argv: Sequence[str]) -> list[str] | None:
    """The PEX's arguments if ``argv`` runs the image's venv PEX, else None."""
    if argv and argv[0] == IMAGE_ENTRYPOINT:
        return list(argv[1:])
    return None


def dockerfile_commands(deploy: Path) -> list[DeployCommand]:
    commands = []
    for path in sorted((deploy / "compose").glob("*.Dockerfile")):
        image = parse_dockerfile(path)
        args = pex_args([*image.entrypoint, *image.cmd])
        if args is None:
            continue
        rel = path.relative_to(deploy).as_posix()
        commands.append(
            DeployCommand(f"{rel}:CMD", "dockerfile", rel, image.pex, tuple(args), image.env)
        )
    return commands


def dockerfiles_by_pex(deploy: Path) -> dict[str, Dockerfile]:
    images = [parse_dockerfile(p) for p in sorted((deploy / "compose").glob("*.Dockerfile"))]
    by_pex = {image.pex: image for image in images}
    if len(by_pex) != len(images):
        raise ValueError("two Dockerfiles install the same PEX")
    return by_pex


# --- compose ----------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


def interpolate(value: str) -> str:
    """Compose interpolation with every variable unset: ``${VAR:-default}`` -> ``default``."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "$"
        if match.group("invalid") is not None:
            raise ValueError(f"invalid interpolation in {value!r}")
        op = match.group("op")
        if op in {"-", ":-"}:
            return interpolate(match.group("arg"))
        if op in {"?", ":?"}:
            name = match.group("braced")
            raise ValueError(f"{value!r}: required variable {name} ({match.group('arg')})")
        return ""  # unset: ${VAR}, $VAR, and ${VAR:+alternative}

    return _INTERPOLATION.sub(replace, value)


def _interpolate_all(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, dict):
        return {key: _interpolate_all(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_all(value) for value in node]
    return node


def _compose_env(service: Mapping[str, Any], where: str) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = [str(item).partition("=") for item in raw]
        return {key: value for key, sep, value in pairs if sep}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: environment is neither a mapping nor a list")
    return {str(k): _scalar(v) for k, v in raw.items()}


def _scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compose_argv(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return shlex.split(value)
    return _strings(value, where)


def _compose_merge(base: Any, overlay: Any, key: str = "") -> Any:
    """``docker compose -f base -f overlay``: mappings merge, commands and lists are replaced."""
    if (
        isinstance(base, dict)
        and isinstance(overlay, dict)
        and key not in {"command", "entrypoint"}
    ):
        merged = dict(base)
        for name, value in overlay.items():
            merged[name] = _compose_merge(base[name], value, name) if name in base else value
        return merged
    return copy.deepcopy(overlay)


def _load_compose(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("services"), dict):
        raise ValueError(f"{path}: no services")
    # Normalise each service's environment to a mapping, so overlays merge into it.
    for name, service in loaded["services"].items():
        if isinstance(service, dict) and "environment" in service:
            service["environment"] = _compose_env(service, f"{path}: {name}")
    return {str(k): v for k, v in _interpolate_all(loaded).items()}


def _compose_image(
    compose_dir: Path, service: Mapping[str, Any], images: Mapping[str, Dockerfile], where: str
) -> Dockerfile | None:
    build = service.get("build")
    if build is not None:
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        path = (compose_dir / context / dockerfile).resolve()
        for image in images.values():
            if image.path.resolve() == path:
                return image
        if pex_of_image(service.get("image")) is not None:
            raise ValueError(f"{where}: builds {path}, which is none of the service Dockerfiles")
        return None
    pex = pex_of_image(service.get("image"))
    return images[pex] if pex is not None else None


def _healthcheck_argv(test: object, where: str) -> list[str] | None:
    if isinstance(test, str):
        return shlex.split(test)  # a string is CMD-SHELL
    words = _strings(test, where)
    if not words or words[0] == "NONE":
        return None
    if words[0] == "CMD":
        return words[1:]
    if words[0] == "CMD-SHELL":
        return shlex.split(" ".join(words[1:]))
    raise ValueError(f"{where}: healthcheck test starts with {words[0]!r}")


def compose_files(deploy: Path) -> list[tuple[Path, Path | None]]:
    """``(file, base)``: docker-compose.yml alone, every ``docker-compose.*.yml`` on top of it."""
    base = deploy / "compose" / "docker-compose.yml"
    overlays = sorted((deploy / "compose").glob("docker-compose.*.yml"))
    return [(base, None), *((overlay, base) for overlay in overlays)]


def compose_commands(deploy: Path) -> list[DeployCommand]:
    images = dockerfiles_by_pex(deploy)
    commands = []
    for path, base_path in compose_files(deploy):
        rel = path.relative_to(deploy).as_posix()
        own = _load_compose(path)
        services: dict[str, Any] = own["services"]
        if base_path is not None:
            base_services = _load_compose(base_path)["services"]
            services = {
                name: (
                    _compose_merge(base_services[name], service)
                    if name in base_services
                    else service
                )
                for name, service in services.items()
            }
        for name, service in services.items():
            where = f"{rel}: service {name}"
            image = _compose_image(path.parent, service, images, where)
            if image is None:
                continue
            env = {**image.env, **_compose_env(service, where)}
            entrypoint = (
                _compose_argv(service["entrypoint"], where)
                if "entrypoint" in service
                else list(image.entrypoint)
            )
            command = (
                _compose_argv(service["command"], where)
                if "command" in service
                else [] if "entrypoint" in service else list(image.cmd)
            )
            args = pex_args([*entrypoint, *command])
            if args is not None:
                commands.append(
                    DeployCommand(
                        f"{rel}:{name}:command", "compose", rel, image.pex, tuple(args), env
                    )
                )
            healthcheck = service.get("healthcheck") or {}
            if "test" in healthcheck and not healthcheck.get("disable"):
                argv = _healthcheck_argv(healthcheck["test"], f"{where}: healthcheck")
                args = pex_args(argv or [])
                if args is not None:
                    commands.append(
                        DeployCommand(
                            f"{rel}:{name}:healthcheck", "compose", rel, image.pex, tuple(args), env
                        )
                    )
    return commands


# --- Kubernetes -------------------------------------------------------------------------------

Doc = dict[str, Any]


def _yaml_docs(path: Path) -> list[Doc]:
    with path.open(encoding="utf-8") as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise ValueError(f"{path}: a document without a kind")
    return docs


def _key(doc: Doc) -> tuple[str, str]:
    return str(doc["kind"]), str(doc.get("metadata", {}).get("name", ""))


def pod_spec(doc: Doc) -> Doc | None:
    """The pod spec of a workload (Pod, Deployment, Job, CronJob, ...), None for other kinds."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return None
    if doc["kind"] == "Pod":
        return spec
    if doc["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        return dict(template["spec"])
    return None


def containers(doc: Doc) -> list[Doc]:
    pod = pod_spec(doc) or {}
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _k8s_expand(word: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command and args (``$$`` escapes)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, word)


def _k8s_env(
    container: Doc, config_maps: Mapping[str, Mapping[str, str]], where: str
) -> tuple[dict[str, str], frozenset[str]]:
    env: dict[str, str] = {}
    secrets: set[str] = set()
    for source in container.get("envFrom", []):
        prefix = str(source.get("prefix", ""))
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            if name not in config_maps:
                if source["configMapRef"].get("optional"):
                    continue
                raise ValueError(f"{where}: envFrom names a missing ConfigMap {name}")
            env.update({prefix + k: v for k, v in config_maps[name].items()})
        # secretRef: secrets live out of the repository; the settings file example stands in.
    for var in container.get("env", []):
        name = str(var["name"])
        if "value" in var:
            env[name] = _k8s_expand(str(var["value"]), env)
            secrets.discard(name)
            continue
        ref = var.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            map_name, key = ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
            env[name] = config_maps[map_name][key]
            secrets.discard(name)
        elif "secretKeyRef" in ref:
            env.pop(name, None)
            secrets.add(name)
        else:  # fieldRef / resourceFieldRef: a sample value
            env[name] = "sample"
            secrets.discard(name)
    return env, frozenset(secrets)


def _k8s_container_commands(
    rel: str,
    container: Doc,
    fields: set[str],
    config_maps: Mapping[str, Mapping[str, str]],
    images: Mapping[str, Dockerfile],
) -> list[DeployCommand]:
    """The commands of the fields named (``main`` = command/args, probe and hook names)."""
    pex = pex_of_image(container.get("image"))
    if pex is None:
        return []
    name = str(container["name"])
    where = f"{rel}: container {name}"
    image = images[pex]
    env, secrets = _k8s_env(container, config_maps, where)
    env = {**image.env, **env}

    def expand(words: list[str]) -> list[str]:
        return [_k8s_expand(word, env) for word in words]

    commands = []
    if "main" in fields:
        if "command" in container:
            argv = [
                *_strings(container["command"], where),
                *_strings(container.get("args", []), where),
            ]
        elif "args" in container:
            argv = [*image.entrypoint, *_strings(container["args"], where)]
        else:
            argv = [*image.entrypoint, *image.cmd]
        args = pex_args(expand(argv))
        if args is not None:
            commands.append(
                DeployCommand(f"{rel}:{name}", "k8s", rel, pex, tuple(args), env, secrets)
            )
    handlers = [(p, container.get(p) or {}) for p in K8S_PROBES] + [
        (h, (container.get("lifecycle") or {}).get(h) or {}) for h in K8S_HOOKS
    ]
    for label, handler in handlers:
        if label not in fields or "exec" not in handler:
            continue
        args = pex_args(expand(_strings(handler["exec"].get("command", []), f"{where}: {label}")))
        if args is not None:
            commands.append(
                DeployCommand(f"{rel}:{name}:{label}", "k8s", rel, pex, tuple(args), env, secrets)
            )
    return commands


def _fields_of(container: Doc) -> set[str]:
    fields = {p for p in K8S_PROBES if p in container}
    fields |= {h for h in K8S_HOOKS if h in (container.get("lifecycle") or {})}
    if "command" in container or "args" in container:
        fields.add("main")
    return fields


def _config_maps(docs: Sequence[Doc]) -> dict[str, dict[str, str]]:
    return {
        str(d["metadata"]["name"]): {str(k): str(v) for k, v in (d.get("data") or {}).items()}
        for d in docs
        if d["kind"] == "ConfigMap"
    }


def k8s_base_files(deploy: Path) -> list[Path]:
    return sorted(
        p for p in (deploy / "k8s" / "base").rglob("*.yaml") if p.name != "kustomization.yaml"
    )


def k8s_overlay_files(deploy: Path) -> list[Path]:
    overlays = deploy / "k8s" / "overlays"
    return sorted(p for p in overlays.glob("*/*.yaml") if p.name != "kustomization.yaml")


def k8s_commands(deploy: Path) -> list[DeployCommand]:
    images = dockerfiles_by_pex(deploy)
    base_docs = [(path, doc) for path in k8s_base_files(deploy) for doc in _yaml_docs(path)]
    base_index = {_key(doc): doc for _, doc in base_docs}
    if len(base_index) != len(base_docs):
        raise ValueError("k8s/base: two objects with the same kind and name")
    base_maps = _config_maps([doc for _, doc in base_docs])
    commands = []
    for path, doc in base_docs:
        rel = path.relative_to(deploy).as_posix()
        for container in containers(doc):
            fields = {"main", *K8S_PROBES, *K8S_HOOKS}
            commands += _k8s_container_commands(rel, container, fields, base_maps, images)

    overlay_files = k8s_overlay_files(deploy)
    for overlay in sorted({p.parent for p in overlay_files}):
        docs = [(p, d) for p in overlay_files if p.parent == overlay for d in _yaml_docs(p)]
        # The overlay's objects: the base ones with the overlay's patches merged, plus its own.
        rendered = dict(base_index)
        for _, doc in docs:
            rendered[_key(doc)] = (
                strategic_merge(base_index[_key(doc)], doc) if _key(doc) in base_index else doc
            )
        maps = _config_maps(list(rendered.values()))
        for path, doc in docs:
            rel = path.relative_to(deploy).as_posix()
            merged_by_name = {str(c["name"]): c for c in containers(rendered[_key(doc)])}
            for container in containers(doc):
                # A patch's container is partial: its image and the rest come from the base.
                merged = merged_by_name[str(container["name"])]
                is_patch = _key(doc) in base_index
                fields = _fields_of(container) if is_patch else _fields_of(merged) | {"main"}
                commands += _k8s_container_commands(rel, merged, fields, maps, images)
    return commands


# --- systemd ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """The settings of a unit file: ``{section: [(key, value), ...]}`` in file order."""

    path: Path
    sections: Mapping[str, list[tuple[str, str]]]

    def values(self, section: str, key: str) -> list[str]:
        return [v for k, v in self.sections.get(section, []) if k == key]


def parse_unit(path: Path) -> Unit:
    sections: dict[str, list[tuple[str, str]]] = {}
    section = ""
    logical = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not logical and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            sections.setdefault(section, [])
            continue
        key, sep, value = line.partition("=")
        if not sep or not section:
            raise ValueError(f"{path}: not a Key=value line in a section: {raw!r}")
        sections[section].append((key.strip(), value.strip()))
    return Unit(path, sections)


def systemd_specifiers(value: str, unit_name: str, unit: Unit, where: str) -> str:
    """Expand the specifiers systemd expands in Exec*= and Environment*= (sample host values)."""
    prefix, at, rest = unit_name.partition("@")
    instance = rest.rpartition(".")[0] if at else ""
    user = (unit.values("Service", "User") or ["root"])[-1]
    table = {
        "%": "%",
        "i": instance,
        "I": instance,
        "j": prefix.rpartition("-")[2],
        "J": prefix.rpartition("-")[2],
        "n": unit_name,
        "N": unit_name.rpartition(".")[0],
        "p": prefix.rpartition(".")[0] if not at else prefix,
        "P": prefix.rpartition(".")[0] if not at else prefix,
        "H": SAMPLE_HOSTNAME,
        "l": SAMPLE_HOSTNAME,
        "q": SAMPLE_HOSTNAME,
        "u": user,
        "h": "/nonexistent",
        "t": "/run",
        "S": "/var/lib",
        "C": "/var/cache",
        "L": "/var/log",
        "E": "/etc",
        "T": "/tmp",  # noqa: S108 - systemd's value
        "V": "/var/tmp",  # noqa: S108 - systemd's value
    }

    def replace(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter not in table:
            raise ValueError(f"{where}: specifier %{letter} has no sample value here")
        return table[letter]

    return re.sub(r"%(.)", replace, value)


def systemd_commands(deploy: Path) -> list[DeployCommand]:
    commands = []
    for path in sorted((deploy / "systemd").glob("*.service")):
        rel = path.relative_to(deploy).as_posix()
        unit = parse_unit(path)
        unit_name = path.name
        if unit_name.endswith("@.service"):  # a template: run a sample instance
            unit_name = unit_name.replace("@.", f"@{SAMPLE_SYSTEMD_INSTANCE}.")

        def expand(value: str, where: str, unit_name: str = unit_name, unit: Unit = unit) -> str:
            return systemd_specifiers(value, unit_name, unit, where)

        # Environment= first; EnvironmentFile= settings override it (systemd.exec(5)).
        env: dict[str, str] = {}
        for value in unit.values("Service", "Environment"):
            for word in shlex.split(expand(value, f"{rel}: Environment")):
                key, sep, val = word.partition("=")
                if not sep:
                    raise ValueError(f"{rel}: Environment={value}: not KEY=value")
                env[key] = val
        files = [
            expand(v, f"{rel}: EnvironmentFile") for v in unit.values("Service", "EnvironmentFile")
        ]
        env.update(load_env_files(deploy, files, rel))

        for key in SYSTEMD_EXEC_KEYS:
            values = unit.values("Service", key)
            for index, value in enumerate(values, 1):
                argv = shlex.split(expand(value.lstrip("-@:+!"), f"{rel}: {key}"))
                pex = pex_of_host_path(argv[0]) if argv else None
                if pex is None:
                    continue
                label = key if len(values) == 1 else f"{key}#{index}"
                commands.append(
                    DeployCommand(f"{rel}:{label}", "systemd", rel, pex, tuple(argv[1:]), dict(env))
                )
    return commands


# --- Supervisor -------------------------------------------------------------------------------


def supervisor_env(value: str, where: str) -> dict[str, str]:
    """Supervisor's ``environment=KEY="value",KEY2="value2"`` (its dict_of_key_value_pairs)."""
    lexer = shlex.shlex(value)
    lexer.wordchars += "/.+-():"
    tokens = list(lexer)
    env: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        key_eq_value = tokens[i : i + 3]
        if len(key_eq_value) != 3 or key_eq_value[1] != "=":
            raise ValueError(f"{where}: environment= is not KEY=value pairs: {value!r}")
        env[key_eq_value[0]] = key_eq_value[2].strip("'\"")
        if i + 3 < len(tokens) and tokens[i + 3] != ",":
            raise ValueError(f"{where}: environment= pairs must be comma-separated: {value!r}")
        i += 4
    return env


def supervisor_commands(deploy: Path) -> list[DeployCommand]:
    commands = []
    for path in sorted((deploy / "supervisor").glob("*.conf")):
        rel = path.relative_to(deploy).as_posix()
        config = configparser.RawConfigParser(strict=True)
        config.optionxform = str  # type: ignore[assignment,method-assign]
        config.read(path, encoding="utf-8")
        for section in config.sections():
            if not section.startswith("program:"):
                continue
            program = section.removeprefix("program:")
            options = config[section]
            numprocs = int(options.get("numprocs", "1"))
            start = int(options.get("numprocs_start", "0"))
            for process_num in range(start, start + numprocs):
                expansions: dict[str, object] = {
                    "program_name": program,
                    "group_name": program,
                    "process_num": process_num,
                    "numprocs": numprocs,
                    "host_node_name": SAMPLE_HOSTNAME,
                    "here": "/etc/supervisor/conf.d",
                }
                where = f"{rel}: [{section}] process {process_num}"
                process_name = options.get("process_name", "%(program_name)s") % expansions
                argv = shlex.split(options["command"] % expansions)
                env = supervisor_env(options.get("environment", "") % expansions, where)
                if argv and PurePosixPath(argv[0]).name == ENV_EXEC:
                    if "--" not in argv:
                        raise ValueError(f"{where}: {ENV_EXEC} without --")
                    split = argv.index("--")
                    # The env files are sourced after environment= is set: they win.
                    env.update(load_env_files(deploy, argv[1:split], where))
                    argv = argv[split + 1 :]
                pex = pex_of_host_path(argv[0]) if argv else None
                if pex is None:
                    continue
                commands.append(
                    DeployCommand(
                        f"{rel}:{process_name}", "supervisor", rel, pex, tuple(argv[1:]), env
                    )
                )
    return commands


# --- all of them, and how to run one ----------------------------------------------------------


def collect(deploy: Path) -> list[DeployCommand]:
    """Every command line in ``deploy/`` that runs one of our PEXes."""
    commands = [
        *dockerfile_commands(deploy),
        *compose_commands(deploy),
        *k8s_commands(deploy),
        *systemd_commands(deploy),
        *supervisor_commands(deploy),
    ]
    ids = [c.id for c in commands]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"two deploy commands with the same id: {duplicates}")
    return commands


def unused_port() -> int:
    """A local TCP port nothing listens on (nothing connects to it either)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _localize_url(url: str, port: int) -> str:
    """The URL with its host and port replaced by 127.0.0.1:port (scheme, user, path kept)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class LocalTargets:
    """Where the settings point the database and the broker, and the files a run may write."""

    database_port: int
    redis_port: int
    scratch: Path


def settings_env(command: DeployCommand, deploy: Path, local: LocalTargets) -> dict[str, str]:
    """The settings a run of ``command`` gets: the PEX's settings file example, what the deploy
    file sets on top, secrets from the example (or a sample), and addresses and paths made local.
    """
    example = read_env_file(deploy / "env" / SETTINGS_EXAMPLE[command.pex])
    own = {k: v for k, v in command.env.items() if not k.startswith("PEX_") and k != "PYTHONPATH"}
    env = dict(example)
    if {"REDIS_HOST", "REDIS_PORT", "REDIS_DB"} & own.keys() and "REDIS_URL" not in own:
        env.pop("REDIS_URL", None)  # the deploy file builds the URL from its parts
    env.update(own)
    for name in command.secrets:
        env[name] = example.get(name) or SAMPLE_SECRET
    env.setdefault("LOG_API_TOKEN", SAMPLE_SECRET)
    env.setdefault("FLOWER_BASIC_AUTH", f"admin:{SAMPLE_SECRET}")
    if "DATABASE_URL" in env:
        env["DATABASE_URL"] = _localize_url(env["DATABASE_URL"], local.database_port)
    if env.get("REDIS_URL"):
        env["REDIS_URL"] = ";".join(
            _localize_url(url, local.redis_port) for url in env["REDIS_URL"].split(";")
        )
    if "REDIS_HOST" in env or "REDIS_PORT" in env:
        env["REDIS_HOST"], env["REDIS_PORT"] = "127.0.0.1", str(local.redis_port)
    # Paths the deploy files give the host's layout: somewhere this run may write instead.
    for name in ("LOG_SPOOL_DIR", "PROMETHEUS_MULTIPROC_DIR"):
        if name in env:
            env[name] = str(local.scratch / name.lower())
    if "WORKER_LOGFILE" in env:
        env["WORKER_LOGFILE"] = str(local.scratch / "worker.log")
    return env
