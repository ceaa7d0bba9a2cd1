"""MongoDB client and index set-up (PyMongo's native asyncio API)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from persistence import spill
from persistence.agents import ensure_resource_indexes
from persistence.environments import ensure_environment_indexes
from persistence.skills import ensure_skill_indexes


def connect(uri: str, *, timeout_ms: int = 3000) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose every operation gives up after `timeout_ms` (PyMongo's client-side
    operation timeout, covering server selection, connecting and the command): a MongoDB
    that is away or paused surfaces as a quick 503 / UNAVAILABLE, never a hung request."""
    return AsyncMongoClient(
        uri,
        timeoutMS=timeout_ms,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
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
    await ensure_skill_indexes(db)
    await ensure_environment_indexes(db)
