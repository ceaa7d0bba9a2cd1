"""Storage of environments and execution contexts: proto JSON documents in MongoDB.

Secret values arrive here sealed (domain/environment_rules.py): this module stores what it
is given and never sees a plaintext secret.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.agentic.executioncontext.v1 import api_pb2 as context_pb2
from persistence.agents import ResourceStore
from persistence.storage_errors import storage_errors_mapped


@storage_errors_mapped
class EnvironmentStore(ResourceStore[environment_pb2.Environment]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "environments", environment_pb2.Environment, "environment", unique_slug=True)

    async def by_slug(self, slug: str, org: str = "") -> environment_pb2.Environment | None:
        """The environment with this slug (in `org`, when one is named)."""
        query: dict[str, Any] = {"metadata.slug": slug}
        if org:
            query["metadata.org"] = org
        return await self._find_one(query)


@storage_errors_mapped
class ExecutionContextStore(ResourceStore[context_pb2.ExecutionContext]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "execution_contexts", context_pb2.ExecutionContext, "execution context", unique_slug=True)
        self._contexts = db["execution_contexts"]

    async def of_execution(self, execution_id: str) -> list[context_pb2.ExecutionContext]:
        return await self._find_all({"spec.execution_id": execution_id}, limit=100)

    async def delete_of_execution(self, execution_id: str) -> int:
        result = await self._contexts.delete_many({"spec.execution_id": execution_id})
        return result.deleted_count


async def ensure_environment_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db["environments"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["execution_contexts"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["execution_contexts"].create_index([("spec.execution_id", ASCENDING)])
