"""Execution contexts: the values one execution runs with, for as long as it runs.

Stigmer's contract: `apply` only creates (an existing slug is ALREADY_EXISTS), there is
no update. The service creates one when an execution with `runtime_env` starts and
deletes it when the execution ends or is deleted (`open_for_execution`,
`close_for_execution`). Secret values are sealed at rest and shown as environments'
are (domain/environment_rules.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from ai.stigmer.agentic.executioncontext.v1 import api_pb2 as context_pb2, spec_pb2 as context_spec_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from domain.convert import API_VERSION
from domain.environment_rules import (
    EXECUTION_CONTEXT_ID_PREFIX,
    open_secrets,
    redact_secrets,
    seal_secrets,
    validate_execution_context,
)
from domain.errors import AlreadyExists, InvalidArgument, NotFound
from domain.ids import new_id, require_id
from domain.pages import Page
from domain.resource_rules import check_reference, slugify
from domain.secret_box import SecretBox

if TYPE_CHECKING:
    from persistence.environments import ExecutionContextStore

log = logging.getLogger(__name__)


class ExecutionContextService:
    def __init__(self, store: ExecutionContextStore, box: SecretBox) -> None:
        self.store = store
        self._box = box

    async def create(self, request: context_pb2.ExecutionContext) -> context_pb2.ExecutionContext:
        from persistence.agents import DuplicateSlug

        validate_execution_context(request)
        context = context_pb2.ExecutionContext()
        context.CopyFrom(request)
        context.api_version = API_VERSION
        context.kind = "ExecutionContext"
        context.metadata.id = new_id(EXECUTION_CONTEXT_ID_PREFIX)
        context.metadata.name = context.metadata.name or context.metadata.id
        context.metadata.slug = context.metadata.slug or slugify(context.metadata.name)
        context.ClearField("status")
        audit = context.status.audit.spec_audit
        audit.created_at.GetCurrentTime()
        audit.updated_at.CopyFrom(audit.created_at)
        audit.event = "created"
        seal_secrets(context.spec.data, self._box, context.metadata.id)
        try:
            stored = await self.store.insert(context)
        except DuplicateSlug:
            raise AlreadyExists(f"execution context {context.metadata.slug!r} already exists") from None
        return self._shown(stored, reveal=False)

    async def apply(self, request: context_pb2.ExecutionContext) -> context_pb2.ExecutionContext:
        """Create only: a context with this slug already existing is ALREADY_EXISTS."""
        validate_execution_context(request)
        slug = request.metadata.slug or slugify(request.metadata.name)
        if slug and await self.store.find_by_slug(slug) is not None:
            raise AlreadyExists(f"execution context {slug!r} already exists; execution contexts cannot be updated")
        return await self.create(request)

    async def delete(self, context_id: str) -> context_pb2.ExecutionContext:
        return self._shown(await self.store.delete(require_id(context_id, "execution context")), reveal=False)

    async def get(self, context_id: str, *, reveal: bool = False) -> context_pb2.ExecutionContext:
        return self._shown(await self.store.get(require_id(context_id, "execution context")), reveal=reveal)

    async def get_by_reference(
        self, ref: resource_io_pb2.ApiResourceReference, *, reveal: bool = False
    ) -> context_pb2.ExecutionContext:
        slug = check_reference(ref, kind_pb2.execution_context)
        found = await self.store.find_by_slug(slug)
        if found is None:
            raise NotFound(f"execution context {slug!r} not found")
        return self._shown(found, reveal=reveal)

    async def page(self, page_size: int = 20, page_token: str = "") -> Page[context_pb2.ExecutionContext]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        page = await self.store.page(page_size, page_token)
        return replace(page, entries=[self._shown(c, reveal=False) for c in page.entries])

    async def of_execution(self, execution_id: str) -> list[context_pb2.ExecutionContext]:
        """A user's read of an execution's contexts (secrets redacted)."""
        return [self._shown(c, reveal=False) for c in await self.store.of_execution(execution_id)]

    # -- an execution's lifecycle ------------------------------------------------------

    async def open_for_execution(
        self, execution_id: str, runtime_env: Mapping[str, context_spec_pb2.ExecutionValue]
    ) -> context_pb2.ExecutionContext | None:
        """The context of an execution starting with `runtime_env` (none without one)."""
        if not runtime_env:
            return None
        request = context_pb2.ExecutionContext()
        request.metadata.name = f"{execution_id}-context"
        request.spec.execution_id = execution_id
        for key, value in runtime_env.items():
            request.spec.data[key].CopyFrom(value)
        return await self.create(request)

    async def close_for_execution(self, execution_id: str) -> None:
        """Delete the contexts of an execution that ended; never fails its caller."""
        try:
            await self.store.delete_of_execution(execution_id)
        except Exception as exc:  # the execution's end matters more; a leftover is harmless
            log.warning("deleting the execution context of %s failed: %s", execution_id, exc)

    def _shown(self, context: context_pb2.ExecutionContext, *, reveal: bool) -> context_pb2.ExecutionContext:
        if reveal:
            open_secrets(context.spec.data, self._box, context.metadata.id)
        else:
            redact_secrets(context.spec.data)
        return context

