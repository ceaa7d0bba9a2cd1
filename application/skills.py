"""Skills: push, read by id or by reference (with Stigmer's version rules), artifacts, delete.

A push names a skill and carries its ZIP. The archive is checked (domain/skill_archive.py),
its SHA-256 is the version, the ZIP is stored once per hash (GridFS, so every replica
serves it), `spec.skill_md` is filled from the archive, and the push is kept as a
version, findable by hash and by tag. A skill with the pushed name's slug is updated,
otherwise one is created.

Better than Stigmer's server: artifacts are served only to authenticated callers (the
transport's job) and only for keys this service issues; `delete` removes the skill's
versions and every artifact nothing else references.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ai.stigmer.agentic.skill.v1 import api_pb2 as skill_pb2, io_pb2 as skill_io_pb2, status_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from domain.convert import API_VERSION
from domain.errors import AlreadyExists, InvalidArgument, NotFound
from domain.ids import is_valid_id, new_id, require_id
from domain.pages import Page
from domain.resource_rules import check_reference
from domain.skill_archive import check_skill_archive
from domain.skill_rules import (
    SKILL_ID_PREFIX,
    artifact_key,
    check_artifact_key,
    choose_version,
    owner_scope,
    push_slug,
    version_not_found,
)

if TYPE_CHECKING:
    from persistence.artifacts import ArtifactStore
    from persistence.skills import SkillStore, SkillVersionStore


class SkillService:
    def __init__(self, skills: SkillStore, versions: SkillVersionStore, artifacts: ArtifactStore) -> None:
        self.skills = skills
        self.versions = versions
        self.artifacts = artifacts

    async def push(self, request: skill_io_pb2.PushSkillRequest) -> skill_pb2.Skill:
        slug = push_slug(request)
        # Hashing and reading up to 100 MB: off the event loop.
        archive = await asyncio.to_thread(check_skill_archive, request.artifact)
        key = artifact_key(archive.version_hash)
        await self.artifacts.put(key, request.artifact)
        skill = skill_pb2.Skill(api_version=API_VERSION, kind="Skill")
        skill.metadata.name = request.name
        skill.metadata.slug = slug
        skill.metadata.org = request.org
        skill.metadata.owner_scope = owner_scope(request)
        skill.spec.skill_md = archive.skill_md
        skill.spec.tag = request.tag
        skill.status.version_hash = archive.version_hash
        skill.status.artifact_storage_key = key
        skill.status.state = status_pb2.SKILL_STATE_READY
        stored = await self._store(skill)
        await self.versions.add(stored)
        # A delete of another skill with this ZIP may have removed the artifact before
        # this skill referenced it: store it again if so (it stores nothing otherwise).
        await self.artifacts.put(key, request.artifact)
        return stored

    async def _store(self, skill: skill_pb2.Skill) -> skill_pb2.Skill:
        """Update the skill with this slug, else create it (a create that loses a race to
        another push of the same name updates the winner)."""
        from persistence.agents import DuplicateSlug

        for _ in range(2):
            existing = await self.skills.by_slug(skill.metadata.slug)
            audit = skill.status.audit.spec_audit
            audit.updated_at.GetCurrentTime()
            if existing is not None:
                skill.metadata.id = existing.metadata.id
                audit.created_at.CopyFrom(existing.status.audit.spec_audit.created_at)
                audit.event = "updated"
                skill.status.audit.status_audit.CopyFrom(audit)
                try:
                    return await self.skills.replace(skill)
                except NotFound:  # deleted meanwhile: create it again
                    continue
            skill.metadata.id = new_id(SKILL_ID_PREFIX)
            audit.created_at.CopyFrom(audit.updated_at)
            audit.event = "created"
            skill.status.audit.status_audit.CopyFrom(audit)
            try:
                return await self.skills.insert(skill)
            except DuplicateSlug:
                continue
        raise AlreadyExists(f"skill {skill.metadata.slug!r} is being pushed concurrently; try again")

    async def get(self, skill_id: str) -> skill_pb2.Skill:
        return await self.skills.get(require_id(skill_id, "skill"))

    async def find(self, id_or_slug: str) -> skill_pb2.Skill:
        """By id (`skl_…`), else by slug."""
        if not id_or_slug:
            raise InvalidArgument("skill id or name is required")
        if id_or_slug.startswith(f"{SKILL_ID_PREFIX}_") and is_valid_id(id_or_slug):
            return await self.skills.get(id_or_slug)
        found = await self.skills.by_slug(id_or_slug)
        if found is None:
            raise NotFound(f"skill {id_or_slug!r} not found")
        return found

    async def get_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> skill_pb2.Skill:
        slug = check_reference(ref, kind_pb2.skill)
        current = await self.skills.by_slug(slug, ref.org)
        if current is None:
            raise NotFound(f"skill {slug!r} not found")
        choice = choose_version(ref.version, current)
        if choice.by == "current":
            return current
        if choice.by == "hash":
            found = await self.versions.by_hash(current.metadata.id, choice.value)
        else:
            found = await self.versions.by_tag(current.metadata.id, choice.value)
        if found is None:
            raise version_not_found(slug, ref.version)
        return found

    async def versions_of(self, skill_id: str) -> list[skill_pb2.Skill]:
        """Every push of the skill, newest first."""
        skill = await self.get(skill_id)
        return await self.versions.versions_of(skill.metadata.id)

    async def get_artifact(self, key: str) -> bytes:
        data = await self.artifacts.get(check_artifact_key(key))
        if data is None:
            raise NotFound(f"skill artifact {key!r} not found")
        return data

    async def page(self, page_size: int = 20, page_token: str = "") -> Page[skill_pb2.Skill]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        return await self.skills.page(page_size, page_token)

    async def delete(self, skill_id: str) -> skill_pb2.Skill:
        """The skill, its versions, and each of their artifacts no other skill or version uses."""
        deleted = await self.skills.delete(require_id(skill_id, "skill"))
        keys = await self.versions.artifact_keys_of(deleted.metadata.id)
        if deleted.status.artifact_storage_key:
            keys.add(deleted.status.artifact_storage_key)
        await self.versions.delete_versions_of(deleted.metadata.id)
        for key in sorted(keys):
            if not (await self.skills.references_artifact(key) or await self.versions.references_artifact(key)):
                await self.artifacts.delete(key)
        return deleted

