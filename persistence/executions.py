"""The agent-execution repository: documents in MongoDB, one atomic update per status."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bson
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from domain import convert
from domain.errors import NotFound
from domain.pages import Page
from domain.status_changes import Change
from domain.status_rules import TERMINAL_PHASE_NAMES
from domain.timestamps import now_rfc3339
from persistence import spill, status_layout, status_store
from persistence.pagination import newest_first_within_bytes
from persistence.status_layout import (
    LIVE_CEILING_FIELD,
    STATUS_BYTES_FIELD,
    mongo_update,
)
from persistence.status_store import StatusWrite
from persistence.storage_errors import storage_errors_mapped


@dataclass(frozen=True)
class StatusUpdateResult:
    execution: api_pb2.AgentExecution  # the stored state after the call
    write: StatusWrite  # what changed (what gets published); `applied` False when stale




class DuplicateIdempotencyKey(Exception):
    def __init__(self, existing_id: str, fingerprint: str = "") -> None:
        self.existing_id = existing_id
        self.fingerprint = fingerprint


def _projected_phase(doc: dict[str, Any]) -> str:
    """The phase of a document read with the projection {"status.phase": 1}: nested on
    MongoDB, a flat "status.phase" key on the embedded stand-in."""
    return str(doc.get("status.phase") or (doc.get("status") or {}).get("phase", ""))


@storage_errors_mapped
class ExecutionRepository:
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, max_status_bytes: int = status_store.MAX_STATUS_BYTES
    ) -> None:
        self._collection = db["agent_executions"]
        self.max_status_bytes = max_status_bytes
        self._heads = status_store.KnownHeads()

    async def insert(
        self,
        execution: api_pb2.AgentExecution,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str = "",
    ) -> api_pb2.AgentExecution:
        doc = status_layout.execution_to_document(execution, version=1)
        if idempotency_key:
            doc["idempotency_key"] = idempotency_key
            doc["idempotency_fingerprint"] = request_fingerprint
        # The size counter starts right, so the first status write need not measure it.
        doc[STATUS_BYTES_FIELD] = 0
        doc[STATUS_BYTES_FIELD] = len(bson.encode(doc))
        try:
            await self._collection.insert_one(doc)
        except DuplicateKeyError:
            existing = await self._collection.find_one(
                {"idempotency_key": idempotency_key}, {"_id": 1, "idempotency_fingerprint": 1}
            )
            if existing is None:  # the id itself collided; ids are random, so never in practice
                raise
            raise DuplicateIdempotencyKey(existing["_id"], existing.get("idempotency_fingerprint", "")) from None
        return status_layout.document_to_execution(doc)

    async def get(self, execution_id: str) -> api_pb2.AgentExecution:
        doc = await self._collection.find_one({"_id": execution_id})
        if doc is None:
            raise NotFound(f"agent execution {execution_id!r} not found")
        return await self._execution(doc)

    async def find_by_idempotency_key(self, key: str) -> tuple[api_pb2.AgentExecution, str] | None:
        """The execution created under `key`, and the fingerprint of the request that made it."""
        doc = await self._collection.find_one({"idempotency_key": key})
        if doc is None:
            return None
        return await self._execution(doc), doc.get("idempotency_fingerprint", "")

    async def list(
        self,
        *,
        session_id: str | None = None,
        phase: str | None = None,
        page_size: int = 20,
        page_token: str = "",
    ) -> Page[api_pb2.AgentExecution]:
        """Newest first; the token is the last id of the previous page (ids sort by time).
        A page holds at most `page_size` executions and `MAX_PAGE_BYTES` of statuses, or
        one execution alone when it is larger."""
        query: dict[str, Any] = {}
        if session_id:
            query["spec.session_id"] = session_id
        if phase:
            query["status.phase"] = phase
        page = await newest_first_within_bytes(
            self._collection, query, page_size, page_token, size_field=STATUS_BYTES_FIELD
        )
        await spill.fill(self._collection, page.docs)
        return Page(
            [status_layout.document_to_execution(d) for d in page.docs], page.next_page_token, page.total,
            page.total_pages,
        )

    async def unfinished_before(
        self, cutoff: datetime, *, after: str = "", limit: int = 100
    ) -> builtins.list[tuple[str, str]]:
        """(id, phase name) of executions not in a terminal phase, created before `cutoff`,
        oldest first, after the id `after` (the last of the previous page): ids and
        phases only, so a round over many long runs reads no statuses."""
        query: dict[str, Any] = {
            "status.phase": {"$nin": sorted(TERMINAL_PHASE_NAMES)}, "created_at": {"$lt": cutoff},
        }
        if after:
            query["_id"] = {"$gt": after}
        cursor = self._collection.find(query, {"status.phase": 1}).sort("_id", ASCENDING).limit(limit)
        return [(doc["_id"], _projected_phase(doc)) async for doc in cursor]

    async def delete(self, execution_id: str) -> api_pb2.AgentExecution:
        doc = await self._collection.find_one_and_delete({"_id": execution_id})
        if doc is None:
            raise NotFound(f"agent execution {execution_id!r} not found")
        self._heads.forget(execution_id)
        execution = await self._execution(doc)
        await spill.drop(self._collection, execution_id)
        return execution

    async def sweep_texts(self) -> int:
        """Remove stored status texts whose execution no longer exists (persistence/spill.py)."""
        return await spill.sweep(self._collection)

    async def update_spec(
        self, execution_id: str, spec_fields: dict[str, Any]
    ) -> api_pb2.AgentExecution:
        """User-side spec edits; the status is never touched here."""
        update: dict[str, Any] = {"$inc": {"version": 1}}
        if spec_fields:
            update["$set"] = {f"spec.{k}": v for k, v in spec_fields.items()}
        doc = await self._collection.find_one_and_update(
            {"_id": execution_id}, update, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound(f"agent execution {execution_id!r} not found")
        return await self._execution(doc)

    async def apply_status_update(
        self, execution_id: str, status: api_pb2.AgentExecutionStatus, sequence: int = 0
    ) -> StatusUpdateResult:
        """Merge a runner's whole status (ARCHITECTURE.md, "Status merge") as the changes against what is stored:
        one conditional, atomic update of only what changed (persistence/status_store.py)."""
        write = await status_store.apply_whole_status(
            self._collection, execution_id, convert.status_fields_to_set(status), sequence,
            max_status_bytes=self.max_status_bytes, heads=self._heads, stamp_times=True,
        )
        doc = write.document  # known from the diff, or read back
        if doc is None:
            doc = await self._collection.find_one({"_id": execution_id})
            if doc is None:
                raise NotFound(f"agent execution {execution_id!r} not found")
            await spill.fill(self._collection, [doc])
        return StatusUpdateResult(status_layout.document_to_execution(doc), write)

    async def apply_status_patch(
        self, execution_id: str, changes: builtins.list[Change], sequence: int
    ) -> StatusWrite:
        """Store a runner's patch on top of its predecessor; the round trip costs its size."""
        return await status_store.store_patch(
            self._collection, execution_id, changes, sequence, max_status_bytes=self.max_status_bytes,
            heads=self._heads, stamp_times=True,
        )

    async def get_with_head(self, execution_id: str) -> tuple[api_pb2.AgentExecution, StatusWrite]:
        """The stored execution, and its head: version, sequence and phase as stored."""
        doc = await self._collection.find_one({"_id": execution_id})
        if doc is None:
            raise NotFound(f"agent execution {execution_id!r} not found")
        execution = await self._execution(doc)
        head = StatusWrite(
            True, int(doc.get("version", 0)), int(doc.get("status_sequence", 0)), _projected_phase(doc)
        )
        return execution, head

    async def store_batch(
        self, execution_id: str, changes: builtins.list[Change], *, stored: StatusWrite, versions: int,
        sequence: int, ceiling: int,
    ) -> StatusWrite:
        """Store what a live stream published since `stored` (persistence/status_store.py `store_batch`)."""
        return await status_store.store_batch(
            self._collection, execution_id, changes, stored=stored, versions=versions, sequence=sequence,
            ceiling=ceiling, max_status_bytes=self.max_status_bytes, heads=self._heads,
        )

    async def fail_oversized(self, execution_id: str, reason: str) -> StatusWrite:
        """End an execution whose status outgrew the size limit: FAILED with `reason`.

        Written past the byte limit on purpose (a phase and a sentence always fit in what
        MongoDB allows above it), and only while the phase is not terminal.
        """
        changes: list[Change] = [
            {"set": {"phase": "EXECUTION_FAILED", "error": reason, "completed_at": now_rfc3339()}}
        ]
        update = mongo_update(changes)
        update["$inc"]["version"] = 1
        head = await self._collection.find_one({"_id": execution_id}, {"version": 1, LIVE_CEILING_FIELD: 1}) or {}
        condition: dict[str, Any] = {"_id": execution_id, "status.phase": {"$nin": sorted(TERMINAL_PHASE_NAMES)}}
        if status_store.continue_above_ceiling(update, head) != head.get("version", 0):
            condition["version"] = head["version"]  # the jump holds only on what was read
        doc = await self._collection.find_one_and_update(
            condition, update, projection={"version": 1, "status_sequence": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return StatusWrite(False, 0, 0, "")
        return StatusWrite(
            True, int(doc["version"]), int(doc.get("status_sequence", 0)), "EXECUTION_FAILED",
            changes=changes,
        )

    async def _execution(self, doc: dict[str, Any]) -> api_pb2.AgentExecution:
        await spill.fill(self._collection, [doc])
        return status_layout.document_to_execution(doc)

    async def head_of(self, execution_id: str) -> tuple[int, str] | None:
        """The stored version and phase name alone (a projection)."""
        doc = await self._collection.find_one({"_id": execution_id}, {"version": 1, "status.phase": 1})
        return None if doc is None else (int(doc.get("version", 0)), _projected_phase(doc))

    async def version_of(self, execution_id: str) -> int | None:
        """The stored version alone (a projection): cheap to poll."""
        doc = await self._collection.find_one({"_id": execution_id}, {"version": 1})
        return None if doc is None else int(doc.get("version", 0))
