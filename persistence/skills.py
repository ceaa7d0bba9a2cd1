"""Storage of skills and of every version pushed: proto JSON documents in MongoDB.

`skills` holds each skill's current state (a ResourceStore, unique slug). Every push is
also kept in `skill_versions`, one document per push, with the version hash, tag and
artifact key lifted to the top so lookups use indexes; its `_id` sorts by time, so the
newest of a tag is the greatest. Rules (which version a reference names, what may be
pushed) live in domain/skill_rules.py; this module only stores.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ai.stigmer.agentic.skill.v1 import api_pb2 as skill_pb2
from domain.ids import new_id
from persistence.agents import ResourceStore
from persistence.storage_errors import storage_errors_mapped


@storage_errors_mapped
class SkillStore(ResourceStore[skill_pb2.Skill]):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db, "skills", skill_pb2.Skill, "skill", unique_slug=True)
        self._skills = db["skills"]

    async def by_slug(self, slug: str, org: str = "") -> skill_pb2.Skill | None:
        """The skill with this slug (in `org`, when one is named)."""
        query: dict[str, Any] = {"metadata.slug": slug}
        if org:
            query["metadata.org"] = org
        return await self._find_one(query)

    async def references_artifact(self, key: str) -> bool:
        found = await self._skills.find_one({"status.artifact_storage_key": key}, projection={"_id": 1})
        return found is not None


@storage_errors_mapped
class SkillVersionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._versions = db["skill_versions"]

    async def add(self, skill: skill_pb2.Skill) -> None:
        await self._versions.insert_one(
            {
                "_id": new_id("skv"),
                "skill_id": skill.metadata.id,
                "version_hash": skill.status.version_hash,
                "tag": skill.spec.tag,
                "artifact_storage_key": skill.status.artifact_storage_key,
                "skill": json_format.MessageToDict(skill, preserving_proto_field_name=True),
            }
        )

    async def by_hash(self, skill_id: str, version_hash: str) -> skill_pb2.Skill | None:
        return await self._newest({"skill_id": skill_id, "version_hash": version_hash})

    async def by_tag(self, skill_id: str, tag: str) -> skill_pb2.Skill | None:
        return await self._newest({"skill_id": skill_id, "tag": tag})

    async def versions_of(self, skill_id: str, limit: int = 1000) -> list[skill_pb2.Skill]:
        """Newest first."""
        cursor = self._versions.find({"skill_id": skill_id}).sort("_id", DESCENDING).limit(limit)
        return [_skill_of(doc) async for doc in cursor]

    async def artifact_keys_of(self, skill_id: str) -> set[str]:
        cursor = self._versions.find({"skill_id": skill_id}, projection={"artifact_storage_key": 1})
        return {doc["artifact_storage_key"] async for doc in cursor if doc.get("artifact_storage_key")}

    async def delete_versions_of(self, skill_id: str) -> None:
        await self._versions.delete_many({"skill_id": skill_id})

    async def references_artifact(self, key: str) -> bool:
        found = await self._versions.find_one({"artifact_storage_key": key}, projection={"_id": 1})
        return found is not None

    async def _newest(self, query: dict[str, Any]) -> skill_pb2.Skill | None:
        docs = [doc async for doc in self._versions.find(query).sort("_id", DESCENDING).limit(1)]
        return _skill_of(docs[0]) if docs else None


def _skill_of(doc: dict[str, Any]) -> skill_pb2.Skill:
    return json_format.ParseDict(doc["skill"], skill_pb2.Skill(), ignore_unknown_fields=True)


async def ensure_skill_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db["skills"].create_index([("metadata.slug", ASCENDING)], unique=True)
    await db["skills"].create_index([("status.artifact_storage_key", ASCENDING)])
    versions = db["skill_versions"]
    await versions.create_index([("skill_id", ASCENDING), ("version_hash", ASCENDING)])
    await versions.create_index([("skill_id", ASCENDING), ("tag", ASCENDING)])
    await versions.create_index([("artifact_storage_key", ASCENDING)])
