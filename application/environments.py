"""Environments: named sets of values (some secret) that agent instances reference.

Secret values are sealed before they are stored and opened only for a runner's read
(`reveal=True`, which the transport sets by the caller's role); every other read shows
them redacted (domain/environment_rules.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as scope_pb2, io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from application import resource_steps as steps
from domain.convert import API_VERSION
from domain.environment_rules import (
    ENVIRONMENT_ID_PREFIX,
    keep_unsent_secrets,
    open_secrets,
    redact_secrets,
    seal_secrets,
    validate_environment,
)
from domain.errors import InvalidArgument, NotFound
from domain.ids import is_valid_id, new_id, require_id
from domain.pages import Page
from domain.resource_rules import check_reference, slugify
from domain.secret_box import SecretBox

if TYPE_CHECKING:
    from persistence.environments import EnvironmentStore


class EnvironmentService:
    def __init__(self, store: EnvironmentStore, box: SecretBox) -> None:
        self.store = store
        self._box = box

    async def create(self, request: environment_pb2.Environment) -> environment_pb2.Environment:
        validate_environment(request)
        environment = _copy(request)
        environment.metadata.id = new_id(ENVIRONMENT_ID_PREFIX)
        environment.metadata.slug = environment.metadata.slug or slugify(environment.metadata.name)
        if not environment.metadata.owner_scope:
            environment.metadata.owner_scope = scope_pb2.organization
        environment.ClearField("status")
        _stamp(environment, "created")
        seal_secrets(environment.spec.data, self._box, environment.metadata.id)
        stored = await steps.insert(self.store, environment)
        return self._shown(stored, reveal=False)

    async def update(self, request: environment_pb2.Environment) -> environment_pb2.Environment:
        validate_environment(request)
        current = await self._current(request)
        environment = _copy(request)
        environment.metadata.id = current.metadata.id
        environment.metadata.slug = (
            request.metadata.slug or slugify(request.metadata.name) or current.metadata.slug
        )
        environment.metadata.owner_scope = request.metadata.owner_scope or current.metadata.owner_scope
        environment.status.CopyFrom(current.status)
        _stamp(environment, "updated")
        seal_secrets(environment.spec.data, self._box, environment.metadata.id)
        keep_unsent_secrets(environment.spec.data, current.spec.data)
        stored = await steps.replace(self.store, environment)
        return self._shown(stored, reveal=False)

    async def apply(self, request: environment_pb2.Environment) -> environment_pb2.Environment:
        """Create, or update the environment with this id or slug."""
        validate_environment(request)
        if await self._existing(request) is None:
            return await self.create(request)
        return await self.update(request)

    async def delete(self, environment_id: str) -> environment_pb2.Environment:
        return self._shown(await self.store.delete(require_id(environment_id, "environment")), reveal=False)

    async def get(self, environment_id: str, *, reveal: bool = False) -> environment_pb2.Environment:
        return self._shown(await self.store.get(require_id(environment_id, "environment")), reveal=reveal)

    async def find(self, id_or_slug: str) -> environment_pb2.Environment:
        """A user's read by id (`env_…`) or slug."""
        if not id_or_slug:
            raise InvalidArgument("environment id or name is required")
        found = None
        if is_valid_id(id_or_slug):
            found = await self.store.find(id_or_slug)
        found = found or await self.store.by_slug(id_or_slug)
        if found is None:
            raise NotFound(f"environment {id_or_slug!r} not found")
        return self._shown(found, reveal=False)

    async def get_by_reference(
        self, ref: resource_io_pb2.ApiResourceReference, *, reveal: bool = False
    ) -> environment_pb2.Environment:
        slug = check_reference(ref, kind_pb2.environment)
        found = await self.store.by_slug(slug, ref.org)
        if found is None:
            raise NotFound(f"environment {slug!r} not found")
        return self._shown(found, reveal=reveal)

    async def page(self, page_size: int = 20, page_token: str = "") -> Page[environment_pb2.Environment]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        page = await self.store.page(page_size, page_token)
        return replace(page, entries=[self._shown(e, reveal=False) for e in page.entries])

    async def _current(self, request: environment_pb2.Environment) -> environment_pb2.Environment:
        existing = await self._existing(request)
        if existing is None:
            what = request.metadata.id or request.metadata.slug or request.metadata.name
            raise NotFound(f"environment {what!r} not found")
        return existing

    async def _existing(self, request: environment_pb2.Environment) -> environment_pb2.Environment | None:
        """The stored environment with the request's id, else with its slug."""
        metadata = request.metadata
        if metadata.id:
            if not is_valid_id(metadata.id):
                return None
            found = await self.store.find(metadata.id)
            if found is not None:
                return found
        slug = metadata.slug or slugify(metadata.name)
        return await self.store.by_slug(slug) if slug else None

    def _shown(self, environment: environment_pb2.Environment, *, reveal: bool) -> environment_pb2.Environment:
        if reveal:
            open_secrets(environment.spec.data, self._box, environment.metadata.id)
        else:
            redact_secrets(environment.spec.data)
        return environment


def _copy(request: environment_pb2.Environment) -> environment_pb2.Environment:
    environment = environment_pb2.Environment()
    environment.CopyFrom(request)
    environment.api_version = API_VERSION
    environment.kind = "Environment"
    return environment


def _stamp(environment: environment_pb2.Environment, event: str) -> None:
    audit = environment.status.audit.spec_audit
    audit.updated_at.GetCurrentTime()
    if not audit.HasField("created_at"):
        audit.created_at.CopyFrom(audit.updated_at)
    audit.event = event

