"""deploy/monitoring: the Prometheus configs and alert rules, checked by promtool and by the code.

promtool checks both scrape configs and the rules and runs the rule unit tests; every metric an
alert reads is one the services (or Flower) really export, with the labels the alert uses; the
jobs the alerts select on are the jobs the scrape configs make; the scraped and probed HTTP
paths exist in the apps; the scrape targets' ports are the deployed ports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)"
)

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod"})


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


# --- what the code exports -----------------------------------------------------------------------


class _FakePipeline:
    def __init__(self) -> None:
        self.calls = 0

    def llen(self, _key: str) -> None:
        self.calls += 1

    def execute(self) -> list[int]:
        return [0] * self.calls


class _FakeRedis:
    def pipeline(self, transaction: bool = True) -> _FakePipeline:
        return _FakePipeline()

    def close(self) -> None:
        return None


def _families(collectors: Iterable[Any]) -> dict[str, set[str]]:
    """{sample name: label names} for collectors (labelled metrics with no child included)."""
    out: dict[str, set[str]] = {}
    for collector in collectors:
        labelnames = set(getattr(collector, "_labelnames", ()))
        metrics: list[Metric] = list(collector.collect())
        for metric in metrics:
            suffixes = {
                "counter": ["_total", "_created"],
                "histogram": ["_bucket", "_sum", "_count", "_created"],
                "summary": ["_sum", "_count", "_created"],
            }.get(metric.type, [""])
            names = {metric.name + s for s in suffixes}
            for sample in metric.samples:
                names.add(sample.name)
                labelnames.update(k for k in sample.labels if k not in ("le", "quantile"))
            for name in names:
                out.setdefault(name, set()).update(labelnames)
    return out


def _registry_collectors(registry: CollectorRegistry) -> list[Any]:
    return list(registry._collector_to_names)


@pytest.fixture(scope="module")
def exported() -> dict[str, dict[str, set[str]]]:
    """{job: {metric sample name: label names}} as the code defines them."""
    import redis

    from execlog_producer.metrics import LoggerMetrics
    from execlog_schema.wire import QUEUE_NAME
    from execlog_worker import metrics as worker_metrics

    api_registry = CollectorRegistry()
    LoggerMetrics(api_registry)
    from execlog_api.app import AppMetrics

    AppMetrics(api_registry)
    api = _families(_registry_collectors(api_registry))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis.Redis, "from_url", lambda *a, **k: _FakeRedis())
        queue = _families(
            [worker_metrics.QueueLengthCollector("redis://unused", QUEUE_NAME, QUEUE_NAME)]
        )
    worker_objects = [
        value
        for value in vars(worker_metrics).values()
        if type(value).__module__.startswith("prometheus_client.metrics")
    ]
    worker = {**_families(worker_objects), **queue}

    import flower.events

    flower_registry = CollectorRegistry()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("Histogram", "Gauge", "PrometheusCounter"):
            original = getattr(flower.events, name)

            def bound(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                return _original(*args, registry=flower_registry, **kwargs)

            patch.setattr(flower.events, name, bound)
        flower.events.PrometheusMetrics()
    flower_metrics = _families(_registry_collectors(flower_registry))
    return {
        "execlog-api": api,
        "execlog-worker": worker,
        "execlog-log-worker-api": worker,
        "execlog-flower": flower_metrics,
    }


# --- promtool ------------------------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _local_copy(name: str, tmp_path: Path) -> Path:
    """``name`` and alerts.yml in ``tmp_path``, credentials files pointed at a local dummy."""
    token = tmp_path / "token"
    token.write_text("dummy\n", encoding="utf-8")
    shutil.copy(ALERTS, tmp_path / ALERTS.name)
    text = (MONITORING / name).read_text(encoding="utf-8")
    text = re.sub(r"credentials_file: \S+", f"credentials_file: {token}", text)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / name


@needs_promtool
def test_promtool_check_config(tmp_path: Path) -> None:
    result = promtool("check", "config", str(_local_copy("prometheus.yml", tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_check_kubernetes_config(tmp_path: Path) -> None:
    result = promtool("check", "config", str(_local_copy("prometheus.kubernetes.yml", tmp_path)))
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        pytest.skip("this promtool is built without Kubernetes discovery (Debian's is)")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tested = {
        case["alertname"]
        for test in load_yaml(MONITORING / "alerts.test.yml")["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    core = {
        "ExeclogWorkerDown",
        "ExeclogNoWorkerOnline",
        "ExeclogLogsQueueBacklog",
        "ExeclogTaskFailureRate",
        "ExeclogRecordsDropped",
        "ExeclogProducerSpoolNotEmpty",
    }
    assert core <= tested
    assert tested <= {rule["alert"] for rule in alert_rules()}


# --- the alerts against the code -----------------------------------------------------------------

_SELECTOR = re.compile(r"\b((?:execlog|flower|up)[a-z_]*)\s*(\{[^}]*\})?")
_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_JOB = re.compile(r'job\s*(=~|=)\s*"([^"]+)"')


def _rule_jobs(expr: str) -> set[str]:
    jobs: set[str] = set()
    for op, value in _JOB.findall(expr):
        jobs.update(value.split("|") if op == "=~" else [value])
    return jobs


def test_every_metric_an_alert_reads_is_exported_with_those_labels(
    exported: dict[str, dict[str, set[str]]],
) -> None:
    everything: dict[str, set[str]] = {}
    for families in exported.values():
        for name, labels in families.items():
            everything.setdefault(name, set()).update(labels)
    for rule in alert_rules():
        expr = rule["expr"]
        grouping = {label.strip() for group in _BY.findall(expr) for label in group.split(",")}
        used: set[str] = set()
        for name, selector in _SELECTOR.findall(expr):
            if name == "up":
                continue
            used.add(name)
            assert name in everything, f"{rule['alert']}: no service exports {name}"
            jobs = _rule_jobs(selector or "")
            for job in jobs:
                assert job in exported, f"{rule['alert']}: unknown job {job}"
                assert name in exported[job], f"{rule['alert']}: job {job} has no {name}"
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector or ""))
            assert labels - TARGET_LABELS <= everything[name], f"{rule['alert']}: {name}{labels}"
        available = set().union(*(everything[n] for n in used)) if used else set()
        assert grouping - {""} <= available | TARGET_LABELS, f"{rule['alert']}: by {grouping}"


def test_alert_jobs_are_the_scrape_jobs() -> None:
    config = load_yaml(MONITORING / "prometheus.yml")
    assert config["rule_files"] == [ALERTS.name]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    used = set().union(*(_rule_jobs(rule["expr"]) for rule in alert_rules()))
    assert used == jobs


def _kubernetes_job_for(app_name: str, job: dict[str, Any]) -> bool:
    """Whether the keep/drop rules on the app label of ``job`` let pods of ``app_name`` through."""
    for rule in job["relabel_configs"]:
        if rule.get("source_labels") != ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]:
            continue
        matched = re.fullmatch(rule.get("regex", "(.*)"), app_name) is not None
        if rule.get("action") == "keep" and not matched:
            return False
        if rule.get("action") == "drop" and matched:
            return False
    return True


def test_kubernetes_scrape_config_makes_the_same_jobs_from_pod_labels() -> None:
    config = load_yaml(MONITORING / "prometheus.kubernetes.yml")
    assert config["rule_files"] == [ALERTS.name]
    static = {j["job_name"]: j for j in load_yaml(MONITORING / "prometheus.yml")["scrape_configs"]}
    namespace = load_yaml(
        REPO / "deploy" / "k8s" / "overlays" / "production" / "kustomization.yaml"
    )
    names = set()
    for path in (REPO / "deploy" / "k8s" / "base").rglob("*deployment.yaml"):
        template = load_yaml(path)["spec"]["template"]
        if template["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true":
            names.add(template["metadata"]["labels"]["app.kubernetes.io/name"])
    assert names == set(static)
    for job in config["scrape_configs"]:
        relabels = {tuple(r["source_labels"]): r for r in job["relabel_configs"]}
        to_job = relabels[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
        assert any(
            r.get("target_label") == "job"
            for r in job["relabel_configs"]
            if r["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
        ), to_job
        keep = relabels[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
        assert (keep["action"], keep["regex"]) == ("keep", "true")
        assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == [namespace["namespace"]]
    for name in names:
        jobs = [j for j in config["scrape_configs"] if _kubernetes_job_for(name, j)]
        assert len(jobs) == 1, f"{name} is scraped by {len(jobs)} jobs"
        assert ("authorization" in jobs[0]) == ("authorization" in static[name]), name


def test_static_targets_use_the_compose_services_and_ports() -> None:
    compose = load_yaml(REPO / "deploy" / "compose" / "docker-compose.yml")["services"]
    config = load_yaml(MONITORING / "prometheus.yml")
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for target in job["static_configs"][0]["targets"]:
            host, _, port = target.partition(":")
            service = compose[host]
            env = service.get("environment", {})
            ports = {int(p.rsplit(":", 1)[-1]) for p in service.get("ports", [])}
            ports |= {int(p) for p in service.get("expose", [])}
            assert int(port) in ports, target
            if "WORKER_METRICS_PORT" in env:
                assert int(env["WORKER_METRICS_PORT"]) == int(port)


def _paths(app: Any) -> set[str]:
    """The app's HTTP paths: its OpenAPI paths plus the routes it lists directly."""
    paths = set(app.openapi()["paths"])
    paths.update(route.path for route in app.routes if hasattr(route, "path"))
    return paths


def test_probed_and_scraped_paths_exist_in_the_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "LOG_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    from execlog_api.app import create_app as create_api
    from execlog_api.settings import Settings as ApiSettings
    from execlog_worker.api.app import create_app as create_log_api
    from execlog_worker.settings import Settings as WorkerSettings

    assert {"/healthz", "/readyz", "/metrics"} <= _paths(create_api(ApiSettings()))
    assert {"/healthz", "/readyz", "/metrics"} <= _paths(create_log_api(WorkerSettings()))

    from flower.urls import handlers

    flower_paths = {
        handler.regex.pattern if hasattr(handler, "regex") else handler[0] for handler in handlers
    }
    assert {"/metrics", "/healthcheck"} <= {p.rstrip("$") for p in flower_paths}


async def test_scrape_jobs_send_a_token_exactly_where_metrics_need_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import httpx
    from asgi_lifespan import LifespanManager

    closed = "127.0.0.1:1"
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@{closed}/none")
    monkeypatch.setenv("REDIS_URL", f"redis://{closed}/0")
    monkeypatch.setenv("LOG_WORKER_URL", f"http://{closed}")
    monkeypatch.setenv("LOG_API_TOKEN", "scrape-token")
    monkeypatch.setenv("LOG_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("LOG_SHUTDOWN_TIMEOUT", "2")
    from execlog_api.app import create_app as create_api
    from execlog_api.settings import Settings as ApiSettings
    from execlog_worker.api.app import create_app as create_log_api
    from execlog_worker.settings import Settings as WorkerSettings

    apps = {
        "execlog-api": create_api(ApiSettings(), configure_logs=False),
        "execlog-log-worker-api": create_log_api(WorkerSettings()),
    }
    static = {j["job_name"]: j for j in load_yaml(MONITORING / "prometheus.yml")["scrape_configs"]}
    for job, app in apps.items():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            anonymous = await client.get("/metrics")
            token = {"Authorization": "Bearer scrape-token"}
            with_token = await client.get("/metrics", headers=token)
        assert with_token.status_code == 200, job
        needs_token = anonymous.status_code == 401
        assert needs_token or anonymous.status_code == 200, job
        assert needs_token == ("authorization" in static[job]), job
        if needs_token:
            assert static[job]["authorization"]["type"] == "Bearer"
