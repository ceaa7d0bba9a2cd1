"""Everything a server process holds: clients of the backing services and the service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from temporalio.client import Client as TemporalClient

from application.environments import EnvironmentService
from application.execution_contexts import ExecutionContextService
from application.executions import ExecutionService, publish_safely, state_loader
from application.hub import SubscriptionHub
from application.live_status import LiveRuns
from application.resources import ResourceService
from application.skills import SkillService
from application.workflow_executions import WorkflowExecutionService, loaders
from application.workflows import WorkflowService
from domain.mcp_policy import McpPolicy
from domain.secret_box import SecretBox, key_from_data_dir, key_from_setting
from infra.settings import Settings
from infra.temporal import connect_temporal
from persistence import mongo
from persistence.agents import AgentInstanceStore, AgentStore, SessionStore
from persistence.artifacts import ArtifactStore
from persistence.bus import EventBus
from persistence.environments import EnvironmentStore, ExecutionContextStore
from persistence.executions import ExecutionRepository
from persistence.skills import SkillStore, SkillVersionStore
from persistence.workflows import WorkflowExecutionStore, WorkflowInstanceStore, WorkflowStore


def connect_redis(url: str) -> Redis:
    # Short timeouts: a Redis outage must surface quickly, never stall a status write.
    return Redis.from_url(
        url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=10
    )


def secret_box(settings: Settings) -> SecretBox:
    """SECRETS_KEY, else the key kept in DATA_DIR (domain/secret_box.py)."""
    raw = settings.secrets_key.get_secret_value()
    return SecretBox(key_from_setting(raw) if raw else key_from_data_dir(settings.data_dir))


@dataclass
class ServerContext:
    settings: Settings
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    redis: Redis
    hub: SubscriptionHub | None  # only processes that serve watchers have one
    service: ExecutionService
    temporal: TemporalClient | None
    workflows: WorkflowService
    workflow_executions: WorkflowExecutionService

    @classmethod
    async def open(
        cls, settings: Settings, *, with_workflows: bool = True, with_hub: bool = True
    ) -> ServerContext:
        client = mongo.connect(
            settings.mongodb_uri, timeout_ms=settings.mongodb_timeout_ms,
            operation_timeout_ms=settings.mongodb_operation_timeout_ms,
            max_pool_size=settings.mongodb_max_pool_size,
        )
        db = client[settings.mongodb_database]
        await mongo.ensure_indexes(db)
        redis = connect_redis(settings.redis_url)
        temporal = None
        workflows = None
        workflow_domain = WorkflowService(WorkflowStore(db), WorkflowInstanceStore(db))
        workflow_execution_store = WorkflowExecutionStore(db)
        execution_control = None
        if with_workflows and settings.temporal_address:
            from workflows.starter import TemporalWorkflowControl
            from workflows.workflow_starters import (
                TemporalWorkflowExecutionControl,
                TemporalWorkflowValidator,
            )

            temporal = await connect_temporal(settings)
            workflows = TemporalWorkflowControl(temporal, settings)
            workflow_domain.validator = TemporalWorkflowValidator(temporal, settings)
            execution_control = TemporalWorkflowExecutionControl(temporal, settings)
        executions = ExecutionRepository(db, max_status_bytes=settings.max_status_bytes)
        bus = EventBus(redis)
        hub = None
        live = LiveRuns(  # the hub is made below and loads from `live`: hence the late-bound lambda
            executions, lambda event: publish_safely(bus, hub, event),
            persist_interval=settings.persist_interval_ms / 1000,
        )
        if with_hub:
            # One hub for agent and workflow executions, loading each from its own store
            # (a live run's state from this process, where it is ahead of storage).
            load_state, load_version, load_head = loaders(
                workflow_execution_store, state_loader(executions, live), executions.version_of, executions.head_of
            )
            hub = SubscriptionHub(
                redis, load_state, load_version=load_version, load_head=load_head,
                check_seconds=settings.sse_db_check_seconds,
            )
            await hub.start()
        service = ExecutionService(
            executions=executions,
            resources=ResourceService(
                AgentStore(db), AgentInstanceStore(db), SessionStore(db),
                mcp_policy=McpPolicy.from_settings(settings),
            ),
            bus=bus,
            hub=hub,
            workflows=workflows,
            max_message_chars=settings.max_message_chars,
            skills=SkillService(SkillStore(db), SkillVersionStore(db), ArtifactStore(db)),
            environments=EnvironmentService(EnvironmentStore(db), box := secret_box(settings)),
            execution_contexts=ExecutionContextService(ExecutionContextStore(db), box),
            live=live,
        )
        workflow_executions = WorkflowExecutionService(
            executions=workflow_execution_store, workflows=workflow_domain, bus=bus, hub=hub, control=execution_control,
            max_status_bytes=settings.max_status_bytes,
        )
        return cls(settings, client, db, redis, hub, service, temporal, workflow_domain, workflow_executions)

    async def close(self) -> None:
        await self.service.live.settle_all()
        if self.hub is not None:
            await self.hub.stop()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        await self.mongo.close()

    async def readiness(self) -> dict[str, str]:
        """Each backing service: "ok" or what went wrong (for /readyz)."""

        async def probe(check: Callable[[], Awaitable[object]]) -> str:
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                return "ok"
            except Exception as exc:  # report any failure, whatever its kind
                return f"down: {type(exc).__name__}: {exc}"[:300]

        async def temporal_check() -> None:
            if self.temporal is None:
                raise RuntimeError("not configured")
            await self.temporal.service_client.check_health()

        mongo_state, redis_state, temporal_state = await asyncio.gather(
            probe(lambda: self.db.command("ping")),
            probe(self.redis.ping),
            probe(temporal_check),
        )
        return {"mongodb": mongo_state, "redis": redis_state, "temporal": temporal_state}
