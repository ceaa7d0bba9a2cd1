"""Storage of agents, agent instances and sessions: proto JSON documents in MongoDB.

Like executions, a document is the resource in the proto3 JSON mapping (snake_case names),
`_id` = `metadata.id`, plus a monotonic `version`. Rules (validation, defaults, which
instance an execution runs on) live in application/agents.py, application/agent_instances.py,
application/sessions.py and application/execution_target.py; this module only stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from google.protobuf import json_format
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2
from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.agentic.executioncontext.v1 import api_pb2 as context_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from ai.stigmer.agentic.skill.v1 import api_pb2 as skill_pb2
from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2
from ai.stigmer.agentic.workflowinstance.v1 import api_pb2 as workflow_instance_pb2
from domain.errors import NotFound
from domain.pages import Page
from persistence.pagination import newest_first
from persistence.storage_errors import storage_errors_mapped

# The resource kinds a store holds: each has api_version, kind, metadata and a status
# (whose `version`, where it has one, is the document's).
R = TypeVar(
    "R",
    agent_pb2.Agent,
    instance_pb2.AgentInstance,
    session_pb2.Session,
    skill_pb2.Skill,
    environment_pb2.Environment,
    context_pb2.ExecutionContext,
    workflow_pb2.Workflow,
    workflow_instance_pb2.WorkflowInstance,
)

_BODY_FIELDS = ("api_version", "kind", "metadata", "spec", "status")


class DuplicateSlug(Exception):
    """Another resource of the kind already has this slug."""


@storage_errors_mapped
class ResourceStore(Generic[R]):
    """One kind of resource in one collection; documents read like the REST body."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        collection: str,
        message_type: type[R],
        what: str,
        *,
        unique_slug: bool,
    ) -> None:
        self._collection = db[collection]
        self._type: type[R] = message_type
        self.what = what
        self._unique_slug = unique_slug

    def _to_document(self, resource: R, version: int) -> dict[str, Any]:
        body = json_format.MessageToDict(resource, preserving_proto_field_name=True)
        body.get("status", {}).pop("version", None)
        return {"_id": resource.metadata.id, **body, "version": version}

    def _from_document(self, doc: dict[str, Any]) -> R:
        body = {k: doc[k] for k in _BODY_FIELDS if k in doc}
        resource = json_format.ParseDict(body, self._type(), ignore_unknown_fields=True)
        status: Any = resource.status  # a skill's status has no `version`
        if "version" in status.DESCRIPTOR.fields_by_name:
            status.version = int(doc.get("version", 0))
        return resource

    async def insert(self, resource: R) -> R:
        doc = {**self._to_document(resource, 1), "created_at": datetime.now(UTC)}
        try:
            await self._collection.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateSlug(resource.metadata.slug) from None
        return self._from_document(doc)

    async def replace(self, resource: R) -> R:
        """Store `resource` over the one with its id; the version goes up by one."""
        body = self._to_document(resource, 0)
        body.pop("_id")
        body.pop("version")
        if self._unique_slug:
            # The unique index is the backstop; not every Mongo-compatible server reports
            # a duplicate key on updates, so look first.
            clash = {"metadata.slug": resource.metadata.slug, "_id": {"$ne": resource.metadata.id}}
            if await self._collection.find_one(clash, projection={"_id": 1}) is not None:
                raise DuplicateSlug(resource.metadata.slug)
        try:
            doc = await self._collection.find_one_and_update(
                {"_id": resource.metadata.id},
                {"$set": body, "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            raise DuplicateSlug(resource.metadata.slug) from None
        if doc is None:
            raise NotFound(f"{self.what} {resource.metadata.id!r} not found")
        return self._from_document(doc)

    async def get(self, resource_id: str) -> R:
        doc = await self._collection.find_one({"_id": resource_id})
        if doc is None:
            raise NotFound(f"{self.what} {resource_id!r} not found")
        return self._from_document(doc)

    async def find(self, resource_id: str) -> R | None:
        return await self._find_one({"_id": resource_id})

    async def find_by_slug(self, slug: str) -> R | None:
        return await self._find_one({"metadata.slug": slug})

    async def find_by_slug_or_name(self, value: str) -> R | None:
        return await self._find_one({"$or": [{"metadata.slug": value}, {"metadata.name": value}]})

    async def page(self, page_size: int = 20, page_token: str = "") -> Page[R]:
        """Newest first."""
        return await self._page({}, page_size, page_token)

    async def _find_one(self, query: dict[str, Any]) -> R | None:
        doc = await self._collection.find_one(query)
        return None if doc is None else self._from_document(doc)

    async def _find_all(self, query: dict[str, Any], limit: int = 1000) -> list[R]:
        cursor = self._collection.find(query).sort("_id", ASCENDING).limit(limit)
        return [self._from_document(d) async for d in cursor]

    async def _page(self, query: dict[str, Any], page_size: int, page_token: str) -> Page[R]:
        page = await newest_first(self._collection, query, page_size, page_token)
        return Page([self._from_document(d) for d in page.docs], page.next_page_token, page.total, page.total_pages)

    async def delete(self, resource_id: str) -> R:
        doc = await self._collection.find_one_and_delete({"_id": resource_id})
        if doc is None:
            raise NotFound(f"{self.what} {resource_id!r} not found")
        return self._from_document(doc)


@storage_errors_mapped
class AgentStore(ResourceStore[agent_pb2.Agent]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "agents", agent_pb2.Agent, "agent", unique_slug=True)


@storage_errors_mapped
class AgentInstanceStore(ResourceStore[instance_pb2.AgentInstance]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "agent_instances", instance_pb2.AgentInstance, "agent instance", unique_slug=True)

    async def instances_of(self, agent_id: str) -> list[instance_pb2.AgentInstance]:
        """An agent's instances, oldest first."""
        return await self._find_all({"spec.agent_id": agent_id})

    async def delete_instances_of(self, agent_id: str) -> None:
        await self._collection.delete_many({"spec.agent_id": agent_id})


@storage_errors_mapped
class SessionStore(ResourceStore[session_pb2.Session]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "sessions", session_pb2.Session, "session", unique_slug=False)

    async def page_of_instances(
        self, instance_ids: list[str], page_size: int = 20, page_token: str = ""
    ) -> Page[session_pb2.Session]:
        """The sessions of these agent instances, newest first (as `page`)."""
        return await self._page({"spec.agent_instance_id": {"$in": instance_ids}}, page_size, page_token)


async def ensure_resource_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Slugs are unique per kind; instances are found by agent, sessions by instance."""
    await db["agents"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["agents"].create_index([("metadata.name", ASCENDING)])
    await db["agent_instances"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["agent_instances"].create_index([("spec.agent_id", ASCENDING)])
    await db["sessions"].create_index([("spec.agent_instance_id", ASCENDING)])
