"""Application services container and the FastAPI dependencies that hand them out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from execlog_api.engine.brain import ExecutionManager
from execlog_api.engine.runners import HttpRunner
from execlog_api.settings import Settings
from execlog_producer import ExecutionLogger


@dataclass
class Services:
    """Everything the lifespan builds; lives in ``app.state.services``."""

    settings: Settings
    logger: ExecutionLogger
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    manager: ExecutionManager
    http_runner: HttpRunner
    worker: httpx.AsyncClient
    http: httpx.AsyncClient
    registry: CollectorRegistry


def get_services(request: Request) -> Services:
    """The running app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings_dep(services: ServicesDep) -> Settings:
    """The app's settings."""
    return services.settings


def get_execution_logger_dep(services: ServicesDep) -> ExecutionLogger:
    """The app's ExecutionLogger (dependency injection form)."""
    return services.logger


def get_manager(services: ServicesDep) -> ExecutionManager:
    """The background execution manager."""
    return services.manager


def get_worker_client(services: ServicesDep) -> httpx.AsyncClient:
    """httpx client for log-worker's API."""
    return services.worker


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A read session (no commit); write paths use ``session_scope`` themselves."""
    async with services.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ExecutionLoggerDep = Annotated[ExecutionLogger, Depends(get_execution_logger_dep)]
ManagerDep = Annotated[ExecutionManager, Depends(get_manager)]
WorkerClientDep = Annotated[httpx.AsyncClient, Depends(get_worker_client)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
