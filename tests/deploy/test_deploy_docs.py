"""docs/operations.md and docs/operations.zh-CN.md, checked against the code and the repository.

The configuration reference tables list exactly the settings the services' Settings classes read,
in their order, with their real defaults; every command shown in a shell block is a real CLI
command with real options; every repository path the docs name exists; every setting-like name
they mention is a real setting (or a compose/deploy variable); every metric they name is
exported; both languages cover the same sections.
"""

from __future__ import annotations

import re
import shlex
from typing import cast

import pytest
import redis
from deploy_testkit import (
    DEPLOYED_COMMANDS,
    REPO,
    SERVICES,
    WORK_TREE,
    format_default,
    parse_cli,
    renamed_names,
    settings_class,
    settings_rows,
)
from prometheus_client import REGISTRY, CollectorRegistry
from pydantic_settings import BaseSettings

DOCS = {"en": REPO / "docs" / "operations.md", "zh": REPO / "docs" / "operations.zh-CN.md"}
DATABASE_NAMES = frozenset({"execlog_api", "execlog_logs"})
HEADERS = {"en": ("Variable", "Default", "Meaning"), "zh": ("变量", "默认值", "说明")}
# Sections every version has, in this order.
SECTIONS = {
    "en": [
        "Overview",
        "Install",
        "Start",
        "Configuration reference",
        "Monitoring",
        "Troubleshooting",
        "Tuning",
        "Scaling",
        "Production advice",
        "Degradation",
        "API compatibility",
        "Files",
    ],
    "zh": [
        "概述",
        "安装",
        "启动",
        "配置参考",
        "监控",
        "故障排查",
        "性能优化",
        "扩展",
        "生产环境建议",
        "降级",
        "API 兼容性",
        "相关文件",
    ],
}
# Upper-case names the docs may mention that are not service settings.
NOT_SETTINGS = frozenset(
    {
        "PEX_ROOT",
        "PEX_SCRIPT",
        "REDISCLI_AUTH",
        "POSTGRES_PASSWORD",
        "POSTGRES_USER",
        "EXECLOG_API_DB",
        "EXECLOG_API_DB_USER",
        "EXECLOG_API_DB_PASSWORD",
        "EXECLOG_LOGS_DB",
        "EXECLOG_LOGS_DB_USER",
        "EXECLOG_LOGS_DB_PASSWORD",
        "SENTINEL_MASTER_NAME",
        "SENTINEL_MASTER_HOST",
        "SENTINEL_QUORUM",
        # Redis commands and replies, and other upper-case words the docs quote.
        "LLEN",
        "PONG",
        "NOAUTH",
        "LRANGE",
        "KEYS",
        "SCAN",
        "INFO",
        "BGSAVE",
        "SIGTERM",
        "SIGKILL",
        "SIGHUP",
        "COPY",
        "INSERT",
        "NUL",
        "TLS",
        "AOF",
        "RDB",
        "HA",
        "OOM",
        "CPU",
        "PID",
        "URL",
        "HTTP",
        "API",
        "DB",
        "CLI",
        "PEX",
        "JSON",
        "SSE",
        "KEDA",
        "HPA",
        "PDB",
        "ID",
    }
)


# --- settings ----------------------------------------------------------------------------------


def render_table(cls: type[BaseSettings], meanings: dict[str, str], lang: str) -> str:
    """The Markdown table for ``cls`` (``meanings`` by variable): what the docs must contain."""
    head = HEADERS[lang]
    lines = [f"| {head[0]} | {head[1]} | {head[2]} |", "|---|---|---|"]
    for env, default in settings_rows(cls):
        lines.append(f"| `{env}` | {format_default(default)} | {meanings.get(env, '')} |")
    return "\n".join(lines)


def doc_table(lang: str, service: str) -> list[tuple[str, str, str]]:
    text = DOCS[lang].read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- settings:{service} -->\n(.*?)\n<!-- /settings:{service} -->", text, re.S
    )
    assert match, f"{DOCS[lang].name}: no settings table for {service}"
    lines = match.group(1).strip().splitlines()
    head = HEADERS[lang]
    assert lines[0] == f"| {head[0]} | {head[1]} | {head[2]} |"
    assert lines[1] == "|---|---|---|"
    rows = []
    for line in lines[2:]:
        row = re.fullmatch(r"\| `([A-Z0-9_]+)` \| (.+?) \| (.*) \|", line)
        assert row, f"{DOCS[lang].name}: bad row {line!r}"
        rows.append((row.group(1), row.group(2), row.group(3)))
    return rows


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("lang", sorted(DOCS))
def test_configuration_reference_is_every_setting_with_its_real_default(
    lang: str, service: str
) -> None:
    expected = [(env, format_default(d)) for env, d in settings_rows(settings_class(service))]
    rows = doc_table(lang, service)
    documented = [(env, default) for env, default, _meaning in rows]
    missing = sorted({e for e, _ in expected} - {e for e, _ in documented})
    extra = sorted({e for e, _ in documented} - {e for e, _ in expected})
    assert not missing, f"{DOCS[lang].name}: {service} settings not documented: {missing}"
    assert not extra, f"{DOCS[lang].name}: {service} has no such settings: {extra}"
    assert documented == expected, f"{DOCS[lang].name}: order or defaults differ"
    for env, _default, meaning in rows:
        assert meaning.strip(), f"{DOCS[lang].name}: {env} has no meaning"


RENAMED_HEADINGS = {"en": "### Renamed settings", "zh": "### 已改名的配置"}


def renamed_rows(lang: str) -> set[tuple[str, str, str]]:
    """(old variable, new variable, service) of the doc's renamed-settings table."""
    text = DOCS[lang].read_text(encoding="utf-8")
    section = text.split(f"\n{RENAMED_HEADINGS[lang]}\n", 1)[1].split("\n#", 1)[0]
    rows = re.findall(
        r"^\| `([A-Z0-9_]+)` \| `([A-Z0-9_]+)`[^|]* \| ([a-z-]+) \| [0-9.]+ \|$", section, re.M
    )
    return set(rows)


@pytest.mark.parametrize("lang", sorted(DOCS))
def test_renamed_settings_table_is_every_old_name(lang: str) -> None:
    expected: set[tuple[str, str, str]] = set()
    for service in SERVICES:
        cls = settings_class(service)
        for old, target in getattr(cls, "RENAMED", {}).items():
            field = target if isinstance(target, str) else target.field
            expected.add((old, field.upper(), service))
    assert expected, "no renamed settings"
    assert renamed_rows(lang) == expected


# --- structure ---------------------------------------------------------------------------------


def headings(lang: str, level: int) -> list[str]:
    text = DOCS[lang].read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(rf"^{'#' * level} (.+)$", text, re.M)


@pytest.mark.parametrize("lang", sorted(DOCS))
def test_sections_are_in_order(lang: str) -> None:
    found = headings(lang, 2)
    positions = []
    for section in SECTIONS[lang]:
        matches = [i for i, h in enumerate(found) if h.startswith(section)]
        assert matches, f"{DOCS[lang].name}: no section {section!r} in {found}"
        positions.append(matches[0])
    assert positions == sorted(positions)


def test_both_languages_have_the_same_shape() -> None:
    for level in (2, 3):
        assert len(headings("en", level)) == len(headings("zh", level)), f"level {level}"
    for lang, other in (("en", "zh"), ("zh", "en")):
        assert DOCS[other].name in DOCS[lang].read_text(encoding="utf-8")
    zh = DOCS["zh"].read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```|`[^`]*`", "", zh, flags=re.S)
    cjk = len(re.findall(r"[\u4e00-\u9fff]", prose))
    assert cjk > 3000, "the Chinese version must be written in Chinese"


# --- references --------------------------------------------------------------------------------

_PATH = re.compile(
    r"(?<![\w/.-])((?:deploy|docs|services|libs|tests)/[A-Za-z0-9_.@*/-]+[A-Za-z0-9_*@-])"
)


@pytest.mark.parametrize("lang", sorted(DOCS))
def test_every_repository_path_named_exists(lang: str) -> None:
    assert (WORK_TREE / "docs" / DOCS[lang].name).is_file(), f"{WORK_TREE} is not the checkout"
    text = DOCS[lang].read_text(encoding="utf-8")
    missing = []
    for path in sorted(set(_PATH.findall(text))):
        if path.endswith("/.env"):
            continue
        if "*" in path:
            if not list(WORK_TREE.glob(path)):
                missing.append(path)
        elif not (WORK_TREE / path).exists():
            missing.append(path)
    assert not missing, f"{DOCS[lang].name} names missing paths: {missing}"


def known_names() -> set[str]:
    names = set(NOT_SETTINGS)
    for service in SERVICES:
        names.update(env for env, _ in settings_rows(settings_class(service)))
        names.update(renamed_names(settings_class(service)))
    for line in (REPO / "deploy" / "compose" / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


@pytest.mark.parametrize("lang", sorted(DOCS))
def test_every_setting_name_mentioned_is_real(lang: str) -> None:
    text = DOCS[lang].read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})(?:=[^`]*)?`", text))
    for block in re.findall(r"```(?:bash|sh|ini|dotenv)\n(.*?)```", text, re.S):
        mentioned.update(re.findall(r"^(?:export )?([A-Z][A-Z0-9_]{2,})=", block, re.M))
    unknown = sorted(mentioned - known_names())
    assert not unknown, f"{DOCS[lang].name} mentions unknown settings: {unknown}"


def shell_commands(text: str) -> list[list[str]]:
    """Every command line of the ```bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            for part in re.split(r"\s*(?:&&|\|\||;|&$|\|)\s*", line):
                if part.strip():
                    commands.append(shlex.split(part.strip().rstrip("&")))
    return commands


@pytest.mark.parametrize("lang", sorted(DOCS))
def test_every_cli_command_shown_is_real(lang: str) -> None:
    seen = set()
    for argv in shell_commands(DOCS[lang].read_text(encoding="utf-8")):
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
            argv = argv[1:]
        if argv[:2] == ["sudo", "-u"]:
            argv = argv[3:]
        if not argv:
            continue
        program = argv[0].rsplit("/", 1)[-1].removesuffix(".pex")
        if program in SERVICES:
            ctx = parse_cli(program, argv[1:])
            seen.add(f"{program} {ctx.command.name}")
    assert seen >= DEPLOYED_COMMANDS


class _EmptyQueue:
    """Stands in for Redis under the queue-length collector: an empty ``logs`` queue."""

    def pipeline(self, transaction: bool = True) -> _EmptyQueue:
        return self

    def llen(self, key: str) -> None:
        return None

    def execute(self) -> list[int]:
        return [0, 0, 0, 0]

    def close(self) -> None:
        return None


def metric_names(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def exported_metric_names() -> set[str]:
    """Metric names the services and Flower export, from the collectors they register."""
    from flower.events import get_prometheus_metrics

    from execlog_api.app import AppMetrics
    from execlog_producer.metrics import LoggerMetrics
    from execlog_worker.metrics import QueueLengthCollector

    api = CollectorRegistry()
    AppMetrics(api)
    LoggerMetrics(api)
    queue = CollectorRegistry()
    queue.register(QueueLengthCollector(lambda: cast(redis.Redis, _EmptyQueue()), "logs", "logs"))
    get_prometheus_metrics()
    # execlog_worker.metrics and Flower register in the default registry.
    names = metric_names(api) | metric_names(queue) | metric_names(REGISTRY)
    assert {"execlog_records_logged", "execlog_records_written", "execlog_queue_length"} <= names
    assert "flower_events" in names
    return names


@pytest.mark.parametrize("lang", sorted(DOCS))
def test_every_metric_named_is_exported(lang: str) -> None:
    names = exported_metric_names()
    text = DOCS[lang].read_text(encoding="utf-8")
    for metric in set(re.findall(r"`((?:execlog|flower)_[a-z_]+)(?:\{[^`]*\})?`", text)):
        if metric in DATABASE_NAMES:
            continue
        base = re.sub(r"_(total|bucket|sum|count|created)$", "", metric)
        assert base in names or metric in names, f"{DOCS[lang].name}: no metric {metric}"


def test_alert_names_in_docs_exist() -> None:
    import yaml

    with (REPO / "deploy" / "monitoring" / "alerts.yml").open(encoding="utf-8") as handle:
        alerts = {r["alert"] for g in yaml.safe_load(handle)["groups"] for r in g["rules"]}
    for lang in DOCS:
        named = set(re.findall(r"\bExeclog[A-Za-z]+\b", DOCS[lang].read_text(encoding="utf-8")))
        assert named, lang
        assert named <= alerts, f"{DOCS[lang].name}: unknown alerts {sorted(named - alerts)}"
