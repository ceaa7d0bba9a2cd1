"""The steps every named resource's use cases share (agents, agent instances, sessions,
workflows, workflow instances): a request made a new or an updated resource, the
existing one an apply finds, storing under a unique slug, finding one by slug or by
reference, and a page size's check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as agent_instance_pb2
from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2
from ai.stigmer.agentic.workflowinstance.v1 import api_pb2 as workflow_instance_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from domain.convert import API_VERSION
from domain.errors import AlreadyExists, InvalidArgument, NotFound
from domain.ids import is_valid_id, new_id
from domain.resource_rules import MAX_NAME, slugify
from persistence.agents import DuplicateSlug, ResourceStore

R = TypeVar(
    "R",
    agent_pb2.Agent,
    agent_instance_pb2.AgentInstance,
    session_pb2.Session,
    environment_pb2.Environment,
    workflow_pb2.Workflow,
    workflow_instance_pb2.WorkflowInstance,
)


def new_state(request: R, kind: str, id_prefix: str, *, name_from_id: bool = False) -> R:
    """A copy of `request` as a new resource: our id, header and slug, no status (and,
    with `name_from_id`, the id as its name when it has none)."""
    resource = type(request)()
    resource.CopyFrom(request)
    resource.ClearField("status")
    resource.api_version = API_VERSION
    resource.kind = kind
    resource.metadata.id = new_id(id_prefix)
    if name_from_id:
        resource.metadata.name = resource.metadata.name or resource.metadata.id
    resource.metadata.slug = resource.metadata.slug or slugify(resource.metadata.name)
    return resource


def updated_state(current: R, request: R) -> R:
    """`request`'s metadata and spec over `current`; identity and status stay (status is
    the service's, never the client's)."""
    resource = type(request)()
    resource.CopyFrom(request)
    resource.status.CopyFrom(current.status)
    resource.api_version = API_VERSION
    resource.kind = current.kind
    resource.metadata.id = current.metadata.id
    resource.metadata.name = request.metadata.name or current.metadata.name
    resource.metadata.slug = request.metadata.slug or slugify(resource.metadata.name) or current.metadata.slug
    return resource


async def existing(store: ResourceStore[R], request: R) -> R | None:
    """What an apply updates: the resource with the request's id, else with its slug."""
    if request.metadata.id and is_valid_id(request.metadata.id):
        found = await store.find(request.metadata.id)
        if found is not None:
            return found
    return await store.find_by_slug(request.metadata.slug or slugify(request.metadata.name))


async def apply(
    store: ResourceStore[R], request: R, create: Callable[[R], Awaitable[R]], update: Callable[[R], Awaitable[R]]
) -> R:
    """Update the resource with the request's id or slug, else create it."""
    found = await existing(store, request)
    if found is None:
        return await create(request)
    request.metadata.id = found.metadata.id
    return await update(request)


async def insert(store: ResourceStore[R], resource: R) -> R:
    try:
        return await store.insert(resource)
    except DuplicateSlug:
        raise AlreadyExists(f"{store.what} {resource.metadata.slug!r} already exists") from None


async def replace(store: ResourceStore[R], resource: R) -> R:
    try:
        return await store.replace(resource)
    except DuplicateSlug:
        raise AlreadyExists(f"{store.what} {resource.metadata.slug!r} already exists") from None


async def by_slug(store: ResourceStore[R], slug: str) -> R:
    """The resource with this slug (or name); NotFound when none."""
    if len(slug) > MAX_NAME:
        raise NotFound(f"{store.what} {slug!r} not found")
    found = await store.find_by_slug_or_name(slug)
    if found is None:
        raise NotFound(f"{store.what} {slug!r} not found")
    return found


async def by_reference(store: ResourceStore[R], ref: resource_io_pb2.ApiResourceReference, kind: int) -> R:
    """The resource a reference of this kind (or of no kind) names by slug."""
    if ref.kind not in (kind_pb2.api_resource_kind_unknown, kind):
        raise InvalidArgument(f"reference kind must be {kind_pb2.ApiResourceKind.Name(kind)}")
    if not ref.slug:
        raise InvalidArgument("reference slug is required")
    return await by_slug(store, ref.slug)


def check_page_size(page_size: int) -> None:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
