"""FastAPI dependencies: settings, pool, writer, broker client, bearer-token auth."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from execlog_worker.api.queries import WatermarkCache
from execlog_worker.ingest.writer import LogWriter
from execlog_worker.metrics import QueueLengthCollector
from execlog_worker.settings import Settings


@dataclass
class Resources:
    """What the lifespan opens and the routes use."""

    settings: Settings
    pool: asyncpg.Pool
    writer: LogWriter
    redis: aioredis.Redis
    queue: QueueLengthCollector
    watermarks: WatermarkCache


def get_resources(request: Request) -> Resources:
    """The app's resources (made by the lifespan)."""
    resources: Resources = request.app.state.resources
    return resources


def get_settings(resources: Annotated[Resources, Depends(get_resources)]) -> Settings:
    """The app's settings."""
    return resources.settings


def get_pool(resources: Annotated[Resources, Depends(get_resources)]) -> asyncpg.Pool:
    """The app's asyncpg pool."""
    return resources.pool


def get_writer(resources: Annotated[Resources, Depends(get_resources)]) -> LogWriter:
    """The writer shared with the Celery task code path."""
    return resources.writer


_bearer = HTTPBearer(auto_error=False, description="LOG_API_TOKEN")


def require_token(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless ``Authorization: Bearer <LOG_API_TOKEN>``."""
    expected = settings.log_api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    if not expected or not secrets.compare_digest(given, expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
WriterDep = Annotated[LogWriter, Depends(get_writer)]
ResourcesDep = Annotated[Resources, Depends(get_resources)]
