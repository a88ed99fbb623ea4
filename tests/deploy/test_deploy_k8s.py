"""The Kubernetes manifests in deploy/k8s, checked against the schemas and against the code.

Every object (base, and the production overlay rendered by a small strategic-merge renderer)
validates with kubernetes-validate (offline); the KEDA objects are validated structurally. Every
env var a container gets is a setting its service knows and every value parses; every command,
probe command and Job runs a real CLI command with real options; ports, probes, selectors,
config and secret references agree with each other and with the services.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_testkit import (
    DEPLOYED_COMMANDS,
    ENTRYPOINT,
    REPO,
    SERVICES,
    load_known_settings,
    load_settings,
    parse_cli,
    service_of_image,
)
from kustomize_merge import strategic_merge
from pydantic_settings import BaseSettings

K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
SECRETS_EXAMPLE = K8S / "examples" / "secrets.example.yaml"
K8S_VERSIONS = ("1.27", kubernetes_validate.latest_version())
WORKER_HTTP_COMMANDS = {"api": 8001, "flower": 5555}

Doc = dict[str, Any]


# --- loading and rendering the manifests ------------------------------------------------------


def yaml_docs(path: Path) -> list[Doc]:
    with path.open(encoding="utf-8") as handle:
        return [d for d in yaml.safe_load_all(handle) if d is not None]


def kustomization(directory: Path) -> Doc:
    docs = yaml_docs(directory / "kustomization.yaml")
    assert len(docs) == 1
    return docs[0]


def key_of(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def images_in(doc: Doc) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else {}
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def render(directory: Path) -> list[Doc]:
    """Render a kustomization: resources, namespace, images, labels (no selectors), patches."""
    kust = kustomization(directory)
    docs: list[Doc] = []
    for entry in kust.get("resources", []):
        target = directory / entry
        docs.extend(render(target) if target.is_dir() else yaml_docs(target))
    index = {key_of(d): i for i, d in enumerate(docs)}
    assert len(index) == len(docs), f"{directory}: duplicate objects"
    for patch_entry in kust.get("patches", []):
        for patch in yaml_docs(directory / patch_entry["path"]):
            assert key_of(patch) in index, f"{directory}: patch targets missing {key_of(patch)}"
            i = index[key_of(patch)]
            docs[i] = strategic_merge(docs[i], patch)
    images = {i["name"]: i for i in kust.get("images", [])}
    extra_labels: dict[str, str] = {}
    template_labels: dict[str, str] = {}
    for label in kust.get("labels", []):
        assert not label.get("includeSelectors"), "selectors must stay stable"
        extra_labels.update(label["pairs"])
        if label.get("includeTemplates"):
            template_labels.update(label["pairs"])
    for doc in docs:
        if "namespace" in kust and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = kust["namespace"]
        doc["metadata"].setdefault("labels", {}).update(extra_labels)
        if "template" in doc.get("spec", {}):
            doc["spec"]["template"]["metadata"].setdefault("labels", {}).update(template_labels)
        for container in images_in(doc):
            name, _, tag = container["image"].partition(":")
            if name in images:
                rule = images[name]
                container["image"] = f"{rule.get('newName', name)}:{rule.get('newTag', tag)}"
    return docs


def rendered_sets() -> dict[str, list[Doc]]:
    sets = {"base": render(BASE)}
    sets.update({f"overlays/{o.name}": render(o) for o in OVERLAYS})
    return sets


RENDERED = rendered_sets()
SECRETS = {d["metadata"]["name"]: d for d in yaml_docs(SECRETS_EXAMPLE)}


def pod_specs(docs: list[Doc]) -> Iterator[tuple[Doc, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield doc, doc["spec"]["template"]["spec"]


def containers(docs: list[Doc]) -> Iterator[tuple[Doc, dict[str, Any], dict[str, Any]]]:
    for doc, pod in pod_specs(docs):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            yield doc, pod, container


def service_of(container: dict[str, Any]) -> str:
    service = service_of_image(container["image"])
    assert service is not None, f"unknown image {container['image']}"
    return service


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name} not found"
    return matches[0]


def container_env(docs: list[Doc], container: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """(variables with a known value, every variable name) a container gets."""
    values: dict[str, str] = {}
    names: set[str] = set()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            secret_name = source["secretRef"]["name"]
            assert secret_name in SECRETS, f"secret {secret_name} missing from the example"
            data = SECRETS[secret_name]["stringData"]
        values.update({k: str(v) for k, v in data.items()})
        names.update(data)
    for var in container.get("env", []):
        names.add(var["name"])
        if "value" in var:
            values[var["name"]] = str(var["value"])
            continue
        ref = var["valueFrom"]
        if "secretKeyRef" in ref:
            secret = SECRETS[ref["secretKeyRef"]["name"]]["stringData"]
            assert ref["secretKeyRef"]["key"] in secret, f"{var['name']}: no such secret key"
            values[var["name"]] = str(secret[ref["secretKeyRef"]["key"]])
        elif "configMapKeyRef" in ref:
            data = find(docs, "ConfigMap", ref["configMapKeyRef"]["name"])["data"]
            values[var["name"]] = str(data[ref["configMapKeyRef"]["key"]])
    return values, names


def cli_argv(container: dict[str, Any]) -> list[str]:
    command = list(container.get("command", []))
    assert command == [], "the image's ENTRYPOINT is the CLI: containers set args only"
    return list(container.get("args", []))


def pex_argv(command: list[str]) -> list[str]:
    """The CLI arguments of an exec probe ``/app/venv/pex ARGS...`` (the image's entry point)."""
    assert command[0] == ENTRYPOINT, command
    return command[1:]


def parse_memory(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", quantity)
    assert match, quantity
    return int(match.group(1)) * units.get(match.group(2) or "", 1)


# --- tests --------------------------------------------------------------------------------------


def kustomization_dirs() -> list[Path]:
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_listed_resource_and_patch_exists(directory: Path) -> None:
    kust = kustomization(directory)
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kust["kind"] == "Kustomization"
    listed = [*kust.get("resources", []), *(p["path"] for p in kust.get("patches", []))]
    assert listed
    for entry in listed:
        target = (directory / entry).resolve()
        assert target.exists(), f"{directory}/kustomization.yaml lists missing {entry}"
        if target.is_dir():
            assert (target / "kustomization.yaml").is_file(), entry


def test_every_base_yaml_file_is_listed_in_the_kustomization() -> None:
    listed = {(BASE / r).resolve() for r in kustomization(BASE)["resources"]}
    on_disk = {p.resolve() for p in BASE.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk == listed


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", sorted(RENDERED))
def test_rendered_objects_validate_against_kubernetes_schemas(name: str, version: str) -> None:
    checked = 0
    for doc in RENDERED[name]:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_example_secrets_validate(version: str) -> None:
    for doc in SECRETS.values():
        kubernetes_validate.validate(doc, version, strict=True)


_KEDA_METADATA = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "propertyNames": {
        "enum": [
            "address",
            "addressFromEnv",
            "host",
            "hostFromEnv",
            "port",
            "portFromEnv",
            "username",
            "usernameFromEnv",
            "password",
            "passwordFromEnv",
            "databaseIndex",
            "listName",
            "listLength",
            "activationListLength",
            "enableTLS",
            "unsafeSsl",
        ]
    },
}
# The fields of keda.sh/v1alpha1 ScaledObject (KEDA 2.x CRD) this repository may use.
KEDA_SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {"type": "object"},
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {"type": "object"},
                            },
                        },
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"enum": ["redis"]},
                            "name": {"type": "string"},
                            "metadata": _KEDA_METADATA,
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_worker_scaledobject_scales_on_the_logs_list(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execlog_schema.wire import QUEUE_NAME

    docs = RENDERED[name]
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    obj = scaled[0]
    jsonschema.validate(obj, KEDA_SCALED_OBJECT_SCHEMA)
    spec = obj["spec"]
    assert spec["minReplicaCount"] >= 1, "keep one worker: prefork has no scale-from-zero need"
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"]

    target = find(
        docs, spec["scaleTargetRef"].get("kind", "Deployment"), spec["scaleTargetRef"]["name"]
    )
    assert "replicas" not in target["spec"], "KEDA owns the worker's replica count"
    pod_containers = {c["name"]: c for c in target["spec"]["template"]["spec"]["containers"]}
    container = pod_containers[spec["scaleTargetRef"]["envSourceContainerName"]]
    assert cli_argv(container)[0] == "worker"
    env, _ = container_env(docs, container)
    settings = load_settings(service_of(container), env, monkeypatch)

    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if behavior is not None:
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "keda-hpa"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                "maxReplicas": spec["maxReplicaCount"],
                "behavior": behavior,
            },
        }
        kubernetes_validate.validate(hpa, kubernetes_validate.latest_version(), strict=True)

    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        prefix = str(getattr(settings, "broker_key_prefix", "") or "")
        assert meta["listName"] == f"{prefix}{QUEUE_NAME}"
        assert int(meta["listLength"]) > 0
        for key, setting in (
            ("hostFromEnv", "redis_host"),
            ("portFromEnv", "redis_port"),
            ("passwordFromEnv", "redis_password"),
        ):
            if key in meta:
                assert meta[key] in env, f"{key}={meta[key]} is not in the worker's environment"
                assert meta[key] == setting.upper(), "KEDA must read what the worker reads"
        if "databaseIndex" in meta:
            assert int(meta["databaseIndex"]) == settings.redis_db  # type: ignore[attr-defined]
        assert not getattr(settings, "redis_url", None), "REDIS_URL would override REDIS_HOST"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_container_env_var_is_a_known_setting_with_a_valid_value(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = RENDERED[name]
    seen = 0
    for doc, _pod, container in containers(docs):
        service = service_of(container)
        values, names = container_env(docs, container)
        load_known_settings(
            service, values, monkeypatch, where=doc["metadata"]["name"], names=names
        )
        seen += 1
    assert seen >= 6


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_container_runs_a_real_cli_command(name: str) -> None:
    commands: set[str] = set()
    for _doc, _pod, container in containers(RENDERED[name]):
        service = service_of(container)
        ctx = parse_cli(service, cli_argv(container))
        assert ctx.command.name is not None
        commands.add(f"{service} {ctx.command.name}")
        for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(probe_name, {})
            if "exec" in probe:
                parse_cli(service, pex_argv(probe["exec"]["command"]))
    assert commands >= DEPLOYED_COMMANDS


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_http_ports_and_probes_match_the_services(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = RENDERED[name]
    for doc, _pod, container in containers(docs):
        if doc["kind"] != "Deployment":
            continue
        service = service_of(container)
        command = cli_argv(container)[0]
        env, _ = container_env(docs, container)
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
        if command == "worker":
            settings = load_settings(service, env, monkeypatch)
            metrics_port = settings.worker_metrics_port  # type: ignore[attr-defined]
            assert ports == {"metrics": metrics_port}, "only the metrics of the main process"
            assert annotations["prometheus.io/port"] == str(metrics_port)
            assert "exec" in container["livenessProbe"], "worker liveness is a CLI ping"
            continue
        if service == "execlog-api":
            settings = load_settings(service, env, monkeypatch)
            expected = settings.port  # type: ignore[attr-defined]
            assert expected == 8000
            health, ready = "/healthz", "/readyz"
        elif command == "api":
            settings = load_settings(service, env, monkeypatch)
            expected = WORKER_HTTP_COMMANDS[command]
            assert settings_port(settings, command) == expected
            health, ready = "/healthz", "/readyz"
        else:
            expected = WORKER_HTTP_COMMANDS[command]
            health, ready = "/healthcheck", "/healthcheck"
        assert ports == {"http": expected}, doc["metadata"]["name"]
        assert container["livenessProbe"]["httpGet"] == {"path": health, "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": ready, "port": "http"}
        if annotations.get("prometheus.io/scrape") == "true":
            assert annotations["prometheus.io/port"] == str(expected)
            assert annotations["prometheus.io/path"] == "/metrics"


def settings_port(settings: BaseSettings, command: str) -> int:
    """The port the log-worker serves ``command`` on, from its settings."""
    for field in (f"{command}_port", "port"):
        if hasattr(settings, field):
            return int(getattr(settings, field))
    raise AssertionError(f"log-worker settings have no port for {command!r}")


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_services_and_pdbs_select_real_pods_and_ports(name: str) -> None:
    docs = RENDERED[name]
    pods = {d["metadata"]["name"]: d["spec"]["template"] for d in docs if d["kind"] == "Deployment"}
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    def selected(selector: dict[str, str]) -> list[dict[str, Any]]:
        return [t for t in pods.values() if selector.items() <= t["metadata"]["labels"].items()]

    for svc in (d for d in docs if d["kind"] == "Service"):
        templates = selected(svc["spec"]["selector"])
        assert len(templates) == 1, f"Service {svc['metadata']['name']} selects {len(templates)}"
        named = {
            p["name"]: p["containerPort"]
            for c in templates[0]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in named
            assert port["port"] == named[port["targetPort"]]
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert {p["metadata"]["name"] for p in pdbs} == set(pods) - {"execlog-flower"}
    for pdb in pdbs:
        assert len(selected(pdb["spec"]["selector"]["matchLabels"])) == 1


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_container_has_requests_and_limits(name: str) -> None:
    for doc, _pod, container in containers(RENDERED[name]):
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), doc["metadata"]["name"]
        assert parse_memory(resources["requests"]["memory"]) <= parse_memory(
            resources["limits"]["memory"]
        )


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_worker_memory_limit_holds_every_child_at_its_maximum(name: str) -> None:
    for _doc, _pod, container in containers(RENDERED[name]):
        if cli_argv(container)[0] != "worker":
            continue
        params = parse_cli("execlog-worker", cli_argv(container)).params
        concurrency = int(params["concurrency"])
        max_child_kib = int(params["max_memory_per_child"])
        parent_and_margin = 160 * 2**20
        limit = parse_memory(container["resources"]["limits"]["memory"])
        assert concurrency * max_child_kib * 1024 + parent_and_margin <= limit


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_migrations_are_one_shot_jobs(name: str) -> None:
    jobs = [d for d in RENDERED[name] if d["kind"] == "Job"]
    services = set()
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert parse_cli(service_of(container), cli_argv(container)).command.name == "migrate"
        services.add(service_of(container))
    assert services == set(SERVICES)


def test_overlays_set_a_namespace_and_pin_every_image() -> None:
    for overlay in OVERLAYS:
        docs = RENDERED[f"overlays/{overlay.name}"]
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
            kustomization(overlay)["namespace"]
        }
        for _doc, _pod, container in containers(docs):
            assert "/" in container["image"]
            assert not container["image"].endswith(":latest")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: str(p.relative_to(K8S)))
def test_kubectl_kustomize_renders_the_same_objects(directory: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    real = [d for d in yaml.safe_load_all(out) if d is not None]
    ours = render(directory)
    assert sorted(map(key_of, real)) == sorted(map(key_of, ours))
    for doc in real:
        if not doc["apiVersion"].startswith("keda.sh/"):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    by_key = {key_of(d): d for d in ours}
    for doc in real:
        mine = by_key[key_of(doc)]
        assert doc["metadata"].get("labels") == mine["metadata"].get("labels")
        assert doc["metadata"].get("namespace") == mine["metadata"].get("namespace")
        assert doc["spec"] == mine["spec"] if "spec" in doc else doc.get("data") == mine.get("data")


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_api_reaches_the_log_worker_api_service_with_the_shared_token(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = RENDERED[name]
    settings: dict[str, Any] = {}
    for doc, _pod, container in containers(docs):
        if doc["kind"] == "Deployment":
            env, _ = container_env(docs, container)
            service = service_of(container)
            settings[cli_argv(container)[0]] = load_settings(service, env, monkeypatch)
    api, log_api, flower = settings["serve"], settings["api"], settings["flower"]
    svc = find(docs, "Service", "execlog-log-worker-api")
    namespace = svc["metadata"].get("namespace")
    hosts = {svc["metadata"]["name"]} | (
        {f"execlog-log-worker-api.{namespace}"} if namespace else set()
    )
    port = svc["spec"]["ports"][0]["port"]
    assert port == log_api.api_port
    assert api.log_worker_url in {f"http://{host}:{port}" for host in hosts}
    token = api.log_api_token.get_secret_value()
    assert token, "the log-worker API refuses to serve without LOG_API_TOKEN"
    assert token == log_api.log_api_token.get_secret_value()
    assert flower.flower_basic_auth is not None, "the flower command refuses to run without it"
    assert api.broker_url == log_api.broker_url == settings["worker"].broker_url
    assert api.broker_key_prefix == settings["worker"].broker_key_prefix


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_pods_meet_the_restricted_pod_security_standard(name: str) -> None:
    for doc, pod in pod_specs(RENDERED[name]):
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, doc["metadata"]["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "projected"}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, "Python and Celery need a writable /tmp"  # noqa: S108
