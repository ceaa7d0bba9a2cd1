"""MongoDB client and index set-up (PyMongo's native asyncio API)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from persistence import spill
from persistence.agents import ensure_resource_indexes
from persistence.environments import ensure_environment_indexes
from persistence.skills import ensure_skill_indexes
from persistence.workflows import ensure_workflow_indexes


def connect(
    uri: str, *, timeout_ms: int = 3000, operation_timeout_ms: int = 15000, max_pool_size: int = 100
) -> AsyncMongoClient[dict[str, Any]]:
    """A client that gives up on a MongoDB it cannot reach after `timeout_ms` (server
    selection, connecting): a MongoDB that is away surfaces as a quick 503 / UNAVAILABLE.
    Every operation, its wait for a pooled connection included, gives up after
    `operation_timeout_ms` (PyMongo's client-side operation timeout), so a burst queues
    for connections instead of failing, and nothing hangs."""
    return AsyncMongoClient(
        uri,
        timeoutMS=max(operation_timeout_ms, timeout_ms),
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        maxPoolSize=max_pool_size,
        # New connections open a few at a time (PyMongo's default is 2), so a cold pool
        # grows in step with a burst.
        maxConnecting=8,
        tz_aware=True,
    )



async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Indexes for every query the service makes; idempotent, run at start-up."""
    executions = db["agent_executions"]
    await executions.create_index([("spec.session_id", ASCENDING), ("created_at", DESCENDING)])
    await executions.create_index([("status.phase", ASCENDING), ("created_at", DESCENDING)])
    await executions.create_index([("idempotency_key", ASCENDING)], unique=True, sparse=True)
    await spill.create_indexes(db)
    await ensure_resource_indexes(db)
    await ensure_workflow_indexes(db)
    await ensure_skill_indexes(db)
    await ensure_environment_indexes(db)
