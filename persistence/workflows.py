"""Storage of workflows, workflow instances and workflow executions.

Documents are the resources in the proto3 JSON mapping (snake_case), `_id` =
`metadata.id`, plus a monotonic `version`, like agents and agent executions. A workflow
execution also keeps `status_sequence` (the highest ordered update applied) and its
`created_at`. Rules live in domain/workflow_rules.py and domain/workflow_execution_rules.py;
this module only stores, and a status write is one update conditional on the version it
was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as execution_pb2
from ai.stigmer.agentic.workflowinstance.v1 import api_pb2 as instance_pb2
from domain.errors import NotFound
from domain.pages import Page
from persistence.agents import ResourceStore
from persistence.pagination import newest_first
from persistence.storage_errors import storage_errors_mapped

_BODY_FIELDS = ("api_version", "kind", "metadata", "spec", "status")


@storage_errors_mapped
class WorkflowStore(ResourceStore[workflow_pb2.Workflow]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "workflows", workflow_pb2.Workflow, "workflow", unique_slug=True)

    async def set_status_fields(self, workflow_id: str, fields: dict[str, Any], *, spec_digest: str = "") -> bool:
        """Set `status.<field>` values (proto JSON); with `spec_digest`, only while the
        stored spec is still the one it names. Whether it was written."""
        query: dict[str, Any] = {"_id": workflow_id}
        if spec_digest:
            query["spec_digest"] = spec_digest
        result = await self._collection.update_one(
            query, {"$set": {f"status.{k}": v for k, v in fields.items()}, "$inc": {"version": 1}}
        )
        return result.matched_count == 1

    async def set_spec_digest(self, workflow_id: str, digest: str) -> None:
        await self._collection.update_one({"_id": workflow_id}, {"$set": {"spec_digest": digest}})


@storage_errors_mapped
class WorkflowInstanceStore(ResourceStore[instance_pb2.WorkflowInstance]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "workflow_instances", instance_pb2.WorkflowInstance, "workflow instance", unique_slug=True)

    async def of_workflow(self, workflow_id: str) -> list[instance_pb2.WorkflowInstance]:
        """A workflow's instances, oldest first."""
        return await self._find_all({"spec.workflow_id": workflow_id})

    async def delete_of_workflow(self, workflow_id: str) -> None:
        await self._collection.delete_many({"spec.workflow_id": workflow_id})


@dataclass(frozen=True)
class StoredExecution:
    """An execution as read for a status write: the version and sequence it was read at."""

    execution: execution_pb2.WorkflowExecution
    version: int
    sequence: int


@storage_errors_mapped
class WorkflowExecutionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = db["workflow_executions"]

    @staticmethod
    def _from_document(doc: dict[str, Any]) -> execution_pb2.WorkflowExecution:
        body = {k: doc[k] for k in _BODY_FIELDS if k in doc}
        execution = json_format.ParseDict(body, execution_pb2.WorkflowExecution(), ignore_unknown_fields=True)
        execution.status.version = int(doc.get("version", 0))
        return execution

    async def insert(self, execution: execution_pb2.WorkflowExecution) -> execution_pb2.WorkflowExecution:
        body = json_format.MessageToDict(execution, preserving_proto_field_name=True)
        body.get("status", {}).pop("version", None)
        doc = {"_id": execution.metadata.id, **body, "version": 1, "status_sequence": 0,
               "created_at": datetime.now(UTC)}
        await self._collection.insert_one(doc)
        return self._from_document(doc)

    async def get(self, execution_id: str) -> execution_pb2.WorkflowExecution:
        return (await self.read(execution_id)).execution

    async def read(self, execution_id: str) -> StoredExecution:
        doc = await self._collection.find_one({"_id": execution_id})
        if doc is None:
            raise NotFound(f"workflow execution {execution_id!r} not found")
        return StoredExecution(self._from_document(doc), int(doc.get("version", 0)), int(doc.get("status_sequence", 0)))

    async def version_of(self, execution_id: str) -> int | None:
        doc = await self._collection.find_one({"_id": execution_id}, {"version": 1})
        return None if doc is None else int(doc.get("version", 0))

    async def head_of(self, execution_id: str) -> tuple[int, str] | None:
        """The stored version and phase name alone (a projection)."""
        doc = await self._collection.find_one({"_id": execution_id}, {"version": 1, "status.phase": 1})
        if doc is None:
            return None
        # Nested on MongoDB, a flat "status.phase" key on the embedded stand-in.
        phase = doc.get("status.phase") or (doc.get("status") or {}).get("phase", "")
        return int(doc.get("version", 0)), str(phase)

    async def write_status(
        self, execution_id: str, read_version: int, status: execution_pb2.WorkflowExecutionStatus | None,
        sequence: int,
    ) -> bool:
        """Store `status` (None: only the sequence) if the document is still at
        `read_version`; a changed status bumps the version. Whether it was written."""
        update: dict[str, Any] = {"$set": {"status_sequence": sequence}}
        if status is not None:
            body = json_format.MessageToDict(status, preserving_proto_field_name=True)
            body.pop("version", None)
            update["$set"]["status"] = body
            update["$inc"] = {"version": 1}
        result = await self._collection.update_one({"_id": execution_id, "version": read_version}, update)
        return result.matched_count == 1

    async def set_spec_fields(self, execution_id: str, fields: dict[str, Any]) -> execution_pb2.WorkflowExecution:
        update: dict[str, Any] = {"$inc": {"version": 1}}
        if fields:
            update["$set"] = {f"spec.{k}": v for k, v in fields.items()}
        result = await self._collection.update_one({"_id": execution_id}, update)
        if result.matched_count != 1:
            raise NotFound(f"workflow execution {execution_id!r} not found")
        return await self.get(execution_id)

    async def delete(self, execution_id: str) -> execution_pb2.WorkflowExecution:
        doc = await self._collection.find_one_and_delete({"_id": execution_id})
        if doc is None:
            raise NotFound(f"workflow execution {execution_id!r} not found")
        return self._from_document(doc)

    async def unfinished_before(self, cutoff: datetime, limit: int = 100) -> list[execution_pb2.WorkflowExecution]:
        """Executions not in a terminal phase, created before `cutoff`, oldest first."""
        query = {"status.phase": {"$in": ["EXECUTION_PENDING", "EXECUTION_IN_PROGRESS"]}, "created_at": {"$lt": cutoff}}
        cursor = self._collection.find(query).sort("_id", ASCENDING).limit(limit)
        return [self._from_document(doc) async for doc in cursor]

    async def page(
        self, *, workflow_id: str = "", phase: str = "", page_size: int = 20, page_token: str = ""
    ) -> Page[execution_pb2.WorkflowExecution]:
        """Newest first; the token is the last id of the previous page (ids sort by time)."""
        query: dict[str, Any] = {}
        if workflow_id:
            query["spec.workflow_id"] = workflow_id
        if phase:
            query["status.phase"] = phase
        page = await newest_first(self._collection, query, page_size, page_token)
        return Page([self._from_document(d) for d in page.docs], page.next_page_token, page.total, page.total_pages)


async def ensure_workflow_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Slugs are unique per kind; instances are found by workflow, executions by workflow."""
    await db["workflows"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["workflow_instances"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["workflow_instances"].create_index([("spec.workflow_id", ASCENDING)])
    await db["workflow_executions"].create_index([("spec.workflow_id", ASCENDING)])
    await db["workflow_executions"].create_index([("status.phase", ASCENDING)])
