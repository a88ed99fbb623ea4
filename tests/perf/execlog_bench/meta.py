"""What the figures were measured on: machine, load, versions and server settings."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import psutil
import redis

from execlog_db.url import to_asyncpg_dsn

PACKAGES = (
    "celery",
    "kombu",
    "billiard",
    "redis",
    "asyncpg",
    "SQLAlchemy",
    "orjson",
    "pydantic",
    "fastapi",
    "uvicorn",
    "httpx",
)
PG_SETTINGS = (
    "synchronous_commit",
    "fsync",
    "wal_level",
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "work_mem",
    "max_connections",
)


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Versions of the packages that matter here, plus execlog's own."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    for module in ("execlog_schema", "execlog_db", "execlog_api", "execlog_worker"):
        try:
            mod = __import__(f"{module}._version", fromlist=["__version__"])
            out[module] = str(mod.__version__)
        except ImportError:
            out[module] = "absent"
    return out


async def postgres_info(url: str) -> dict[str, Any]:
    """Server version and the settings that move write throughput."""
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    try:
        info: dict[str, Any] = {"version": await conn.fetchval("SHOW server_version")}
        for name in PG_SETTINGS:
            info[name] = await conn.fetchval(f"SHOW {name}")
        return info
    finally:
        await conn.close()


def redis_info(url: str) -> dict[str, Any]:
    """Redis version and persistence settings."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        server = client.info("server")
        persistence = client.info("persistence")
        appendfsync = client.config_get("appendfsync").get("appendfsync", "?")
        return {
            "version": server.get("redis_version"),
            "aof_enabled": persistence.get("aof_enabled"),
            "appendfsync": appendfsync,
        }
    except redis.RedisError as exc:
        return {"error": str(exc)}
    finally:
        client.close()


def machine() -> dict[str, Any]:
    """CPU, memory, kernel and the current load."""
    mem = psutil.virtual_memory()
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(mem.total / 2**30, 1),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "load_average": load_average(),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "monotonic": time.monotonic(),
    }
