"""Agents, agent instances and sessions: validation, defaults and the execution chain.

Stigmer's resource chain: an execution runs in a session, a session belongs to an agent
instance, an instance deploys an agent. Creating an agent also creates its default
instance; an execution that names only an agent gets a new session on that instance.

Both transports (gRPC servicers, REST routes) call this one service; persistence only
stores. An agent's default model is the annotation `DEFAULT_MODEL_ANNOTATION` (Stigmer's
AgentSpec has no model field); an execution's `execution_config.model_name` overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf import json_format

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2, spec_pb2 as agent_spec_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2, io_pb2 as instance_io_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from core.errors import AlreadyExists, InvalidArgument, NotFound
from core.ids import is_valid_id, new_id
from core.mcp_policy import McpPolicy, McpPolicyError
from core.validation import check_model_name

if TYPE_CHECKING:  # the runner imports this module for `default_model`, and holds no MongoDB driver
    from persistence.agents import AgentInstanceStore, AgentStore, ResourceStore, SessionStore

R = TypeVar("R", agent_pb2.Agent, instance_pb2.AgentInstance, session_pb2.Session)

API_VERSION = "agentic.stigmer.ai/v1"
DEFAULT_MODEL_ANNOTATION = "stigmer/default-model"
MIN_INSTRUCTIONS = 10  # Stigmer's rule for agents and sub-agents
MAX_TEXT = 100_000
MAX_NAME = 100
MAX_ITEMS = 100
_REFERENCE_VERSION = re.compile(r"^$|^latest$|^[a-zA-Z0-9._-]+$|^[a-f0-9]{64}$")

Resource = agent_pb2.Agent | instance_pb2.AgentInstance | session_pb2.Session


@dataclass(frozen=True)
class ExecutionTarget:
    """What an execution runs against; `new_session` says the session was made for it."""

    session: session_pb2.Session
    instance: instance_pb2.AgentInstance
    agent: agent_pb2.Agent
    new_session: bool


@dataclass(frozen=True)
class ResourcePage(Generic[R]):
    """One page, newest first; `total` counts every match, not just this page."""

    entries: list[R]
    next_page_token: str
    total: int


def slugify(name: str) -> str:
    """Stigmer's slug: lowercase, spaces to hyphens, only [a-z0-9-], no doubled or edge hyphens."""
    slug = re.sub(r"[^a-z0-9-]", "", name.lower().replace(" ", "-"))
    return re.sub(r"-{2,}", "-", slug).strip("-")


def default_model(agent: agent_pb2.Agent) -> str:
    return agent.metadata.annotations.get(DEFAULT_MODEL_ANNOTATION, "")


def without_secrets(agent: agent_pb2.Agent) -> agent_pb2.Agent:
    """No read path returns a secret: `env_spec` values marked secret read as ""."""
    for value in agent.spec.env_spec.data.values():
        if value.is_secret:
            value.value = ""
    return agent


def _keep_secrets(agent: agent_pb2.Agent, current: agent_pb2.Agent) -> None:
    """An update that sends a secret back as read ("") keeps the stored value."""
    stored = current.spec.env_spec.data
    for key, value in agent.spec.env_spec.data.items():
        if value.is_secret and not value.value and key in stored:
            value.value = stored[key].value


def to_body(resource: Resource) -> dict[str, Any]:
    """The REST body of a resource: proto JSON (snake_case) with `version` at the top."""
    body = json_format.MessageToDict(resource, preserving_proto_field_name=True)
    body.setdefault("status", {}).pop("version", None)
    body["version"] = resource.status.version
    return body


# -- validation (pure) ------------------------------------------------------------------


def _text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> None:
    if required and not value.strip():
        raise InvalidArgument(f"{field} is required")
    if len(value) > limit:
        raise InvalidArgument(f"{field} is longer than {limit} characters")


def _keys(mapping: Collection[str], field: str) -> None:
    """Map keys become MongoDB field names: plain, short, no `$` prefix, dots or NUL."""
    if len(mapping) > MAX_ITEMS:
        raise InvalidArgument(f"{field} has more than {MAX_ITEMS} entries")
    for key in mapping:
        if not key or len(key) > 128 or key.startswith("$") or "." in key or "\0" in key:
            raise InvalidArgument(f"{field} has an invalid key {key!r}")


def _count(items: Sized, field: str) -> None:
    if len(items) > MAX_ITEMS:
        raise InvalidArgument(f"{field} has more than {MAX_ITEMS} entries")


def _header(resource: Resource, kind: str) -> None:
    if resource.api_version and resource.api_version != API_VERSION:
        raise InvalidArgument(f"api_version must be {API_VERSION!r}")
    if resource.kind and resource.kind != kind:
        raise InvalidArgument(f"kind must be {kind!r}")
    metadata = resource.metadata
    _text(metadata.name, "metadata.name", limit=MAX_NAME)
    _text(metadata.slug, "metadata.slug", limit=MAX_NAME)
    if metadata.slug and slugify(metadata.slug) != metadata.slug:
        raise InvalidArgument("metadata.slug may only hold lowercase letters, digits and hyphens")
    _keys(metadata.labels, "metadata.labels")
    _keys(metadata.annotations, "metadata.annotations")
    _count(metadata.tags, "metadata.tags")


def _references(refs: Sequence[resource_io_pb2.ApiResourceReference], field: str, kind: int) -> None:
    _count(refs, field)
    for i, ref in enumerate(refs):
        if ref.kind not in (kind_pb2.api_resource_kind_unknown, kind):
            raise InvalidArgument(f"{field}[{i}] must reference a {kind_pb2.ApiResourceKind.Name(kind)}")
        if not ref.slug:
            raise InvalidArgument(f"{field}[{i}].slug is required")
        if not _REFERENCE_VERSION.match(ref.version):
            raise InvalidArgument(f"{field}[{i}].version is not a valid version")


def _mcp_server(server: agent_spec_pb2.McpServerDefinition, field: str) -> None:
    _text(server.name, f"{field}.name", required=True, limit=MAX_NAME)
    _count(server.enabled_tools, f"{field}.enabled_tools")
    kind = server.WhichOneof("server_type")
    if kind is None:
        raise InvalidArgument(f"{field} needs one of stdio, http or docker")
    if kind == "stdio":
        _text(server.stdio.command, f"{field}.stdio.command", required=True, limit=4096)
        _keys(server.stdio.env_placeholders, f"{field}.stdio.env_placeholders")
        _count(server.stdio.args, f"{field}.stdio.args")
    elif kind == "http":
        _text(server.http.url, f"{field}.http.url", required=True, limit=4096)
        if not server.http.url.startswith(("http://", "https://")):
            raise InvalidArgument(f"{field}.http.url must be an http(s) URL")
        if server.http.timeout_seconds < 0:
            raise InvalidArgument(f"{field}.http.timeout_seconds must not be negative")
        _keys(server.http.headers, f"{field}.http.headers")
        _keys(server.http.query_params, f"{field}.http.query_params")
    else:
        _text(server.docker.image, f"{field}.docker.image", required=True, limit=4096)
        _keys(server.docker.env_placeholders, f"{field}.docker.env_placeholders")
        for j, volume in enumerate(server.docker.volumes):
            if not volume.host_path or not volume.container_path:
                raise InvalidArgument(f"{field}.docker.volumes[{j}] needs host_path and container_path")
        for j, port in enumerate(server.docker.ports):
            if port.host_port < 1 or port.container_port < 1:
                raise InvalidArgument(f"{field}.docker.ports[{j}] ports must be at least 1")


def validate_agent(agent: agent_pb2.Agent) -> None:
    _header(agent, "Agent")
    _text(agent.metadata.name, "metadata.name", required=True, limit=MAX_NAME)
    spec = agent.spec
    _text(spec.description, "spec.description", limit=4096)
    _text(spec.icon_url, "spec.icon_url", limit=4096)
    _text(spec.instructions, "spec.instructions", limit=MAX_TEXT)
    if len(spec.instructions.strip()) < MIN_INSTRUCTIONS:
        raise InvalidArgument(f"spec.instructions must be at least {MIN_INSTRUCTIONS} characters")
    check_model_name(default_model(agent), f"metadata.annotations[{DEFAULT_MODEL_ANNOTATION!r}]")
    _count(spec.mcp_servers, "spec.mcp_servers")
    servers: set[str] = set()
    for i, server in enumerate(spec.mcp_servers):
        _mcp_server(server, f"spec.mcp_servers[{i}]")
        if server.name in servers:
            raise InvalidArgument(f"spec.mcp_servers has two servers named {server.name!r}")
        servers.add(server.name)
    _references(spec.skill_refs, "spec.skill_refs", kind_pb2.skill)
    _count(spec.sub_agents, "spec.sub_agents")
    names: set[str] = set()
    for i, sub in enumerate(spec.sub_agents):
        field = f"spec.sub_agents[{i}]"
        _text(sub.name, f"{field}.name", required=True, limit=MAX_NAME)
        if sub.name in names:
            raise InvalidArgument(f"spec.sub_agents has two sub-agents named {sub.name!r}")
        names.add(sub.name)
        _text(sub.description, f"{field}.description", limit=4096)
        _text(sub.instructions, f"{field}.instructions", limit=MAX_TEXT)
        if len(sub.instructions.strip()) < MIN_INSTRUCTIONS:
            raise InvalidArgument(f"{field}.instructions must be at least {MIN_INSTRUCTIONS} characters")
        _keys(sub.mcp_tool_selections, f"{field}.mcp_tool_selections")
        unknown = sorted({*sub.mcp_servers, *sub.mcp_tool_selections} - servers)
        if unknown:
            raise InvalidArgument(f"{field} names MCP servers the agent does not declare: {unknown}")
        _references(sub.skill_refs, f"{field}.skill_refs", kind_pb2.skill)
    _keys(spec.env_spec.data, "spec.env_spec.data")


def check_mcp_policy(agent: agent_pb2.Agent, policy: McpPolicy) -> None:
    """Every MCP server of `agent` is one the operator allows (core/mcp_policy.py)."""
    for i, server in enumerate(agent.spec.mcp_servers):
        kind = server.WhichOneof("server_type")
        try:
            if kind == "stdio":
                policy.check_stdio(server.name, server.stdio.command)
            elif kind == "http":
                policy.check_http(server.name, server.http.url)
            elif kind == "docker":
                policy.check_docker(server.name, server.docker.image, server.docker.network)
        except McpPolicyError as exc:
            raise InvalidArgument(f"spec.mcp_servers[{i}]: {exc}") from None


def validate_instance(instance: instance_pb2.AgentInstance) -> None:
    _header(instance, "AgentInstance")
    _text(instance.metadata.name, "metadata.name", required=True, limit=MAX_NAME)
    _text(instance.spec.agent_id, "spec.agent_id", required=True, limit=128)
    _text(instance.spec.description, "spec.description", limit=4096)
    _references(instance.spec.environment_refs, "spec.environment_refs", kind_pb2.environment)


def validate_session(session: session_pb2.Session) -> None:
    _header(session, "Session")
    spec = session.spec
    _text(spec.agent_instance_id, "spec.agent_instance_id", required=True, limit=128)
    _text(spec.subject, "spec.subject", limit=4096)
    _text(spec.thread_id, "spec.thread_id", limit=256)
    _text(spec.sandbox_id, "spec.sandbox_id", limit=256)
    _keys(spec.metadata, "spec.metadata")


def _require_id(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} id is required")
    if not is_valid_id(value):
        raise NotFound(f"{what} {value!r} not found")
    return value


# -- the service ------------------------------------------------------------------------


class ResourceService:
    def __init__(
        self,
        agents: AgentStore,
        instances: AgentInstanceStore,
        sessions: SessionStore,
        *,
        mcp_policy: McpPolicy,
    ) -> None:
        self.agents = agents
        self.instances = instances
        self.sessions = sessions
        self.mcp_policy = mcp_policy

    def _validate_agent(self, agent: agent_pb2.Agent) -> None:
        validate_agent(agent)
        check_mcp_policy(agent, self.mcp_policy)

    # -- agents ---------------------------------------------------------------------

    async def create_agent(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        self._validate_agent(request)
        agent = _new_state(request, "Agent", "agt")
        agent.ClearField("status")
        stored = await _insert(self.agents, agent)
        try:
            instance = await self.create_instance(_default_instance_of(stored))
        except Exception:
            await self.agents.delete(stored.metadata.id)  # no agent without its default instance
            raise
        stored.status.default_instance_id = instance.metadata.id
        return without_secrets(await self.agents.replace(stored))

    async def update_agent(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        self._validate_agent(request)
        current = await self.agents.get(_require_id(request.metadata.id, "agent"))
        agent = _updated_state(current, request)
        agent.status.CopyFrom(current.status)  # status is the service's, never the client's
        _keep_secrets(agent, current)
        return without_secrets(await _replace(self.agents, agent))

    async def apply_agent(self, request: agent_pb2.Agent) -> agent_pb2.Agent:
        """Create, or update the agent with this id or slug (declarative, like `kubectl apply`)."""
        self._validate_agent(request)
        existing = await self._existing(self.agents, request)
        if existing is None:
            return await self.create_agent(request)
        request.metadata.id = existing.metadata.id
        return await self.update_agent(request)

    async def delete_agent(self, agent_id: str) -> agent_pb2.Agent:
        deleted = await self.agents.delete(_require_id(agent_id, "agent"))
        await self.instances.delete_many({"spec.agent_id": deleted.metadata.id})
        return without_secrets(deleted)

    async def get_agent(self, agent_id: str) -> agent_pb2.Agent:
        return without_secrets(await self.agents.get(_require_id(agent_id, "agent")))

    async def find_agent(self, id_or_name: str) -> agent_pb2.Agent:
        """By id (`agt_…`), else by slug or name."""
        if not id_or_name:
            raise InvalidArgument("agent id or name is required")
        if id_or_name.startswith("agt_") and is_valid_id(id_or_name):
            return without_secrets(await self.agents.get(id_or_name))
        found = await self.agents.find_by_slug_or_name(id_or_name)
        if found is None:
            raise NotFound(f"agent {id_or_name!r} not found")
        return without_secrets(found)

    async def get_agent_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> agent_pb2.Agent:
        return without_secrets(await _by_reference(self.agents, ref, kind_pb2.agent))

    async def list_agents(self, page_size: int = 20, page_token: str = "") -> ResourcePage[agent_pb2.Agent]:
        _page_size(page_size)
        entries, token, total = await self.agents.page({}, page_size, page_token)
        return ResourcePage([without_secrets(a) for a in entries], token, total)

    # -- agent instances ------------------------------------------------------------

    async def create_instance(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        await self.get_agent(request.spec.agent_id)
        instance = _new_state(request, "AgentInstance", "ain")
        instance.ClearField("status")
        return await _insert(self.instances, instance)

    async def update_instance(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        current = await self.get_instance(request.metadata.id)
        if request.spec.agent_id != current.spec.agent_id:
            raise InvalidArgument("spec.agent_id of an agent instance cannot change")
        instance = _updated_state(current, request)
        instance.status.CopyFrom(current.status)
        return await _replace(self.instances, instance)

    async def apply_instance(self, request: instance_pb2.AgentInstance) -> instance_pb2.AgentInstance:
        validate_instance(request)
        existing = await self._existing(self.instances, request)
        if existing is None:
            return await self.create_instance(request)
        request.metadata.id = existing.metadata.id
        return await self.update_instance(request)

    async def delete_instance(self, instance_id: str) -> instance_pb2.AgentInstance:
        return await self.instances.delete(_require_id(instance_id, "agent instance"))

    async def get_instance(self, instance_id: str) -> instance_pb2.AgentInstance:
        return await self.instances.get(_require_id(instance_id, "agent instance"))

    async def get_instance_by_reference(
        self, ref: resource_io_pb2.ApiResourceReference
    ) -> instance_pb2.AgentInstance:
        return await _by_reference(self.instances, ref, kind_pb2.agent_instance)

    async def instances_of_agent(
        self, request: instance_io_pb2.GetAgentInstancesByAgentRequest
    ) -> instance_io_pb2.AgentInstanceList:
        """An agent's instances, oldest first; `page_info` (1-based `num`, `size`) pages them."""
        agent = await self.get_agent(request.agent_id)
        items = await self.instances.find_all({"spec.agent_id": agent.metadata.id})
        page = request.page_info
        if page.num < 0 or page.size < 0:
            raise InvalidArgument("page_info.num and page_info.size must not be negative")
        total = len(items)
        if page.size:
            start = (max(page.num, 1) - 1) * page.size
            items = items[start : start + page.size]
        return instance_io_pb2.AgentInstanceList(total_count=total, items=items)

    # -- sessions -------------------------------------------------------------------

    async def create_session(self, request: session_pb2.Session) -> session_pb2.Session:
        validate_session(request)
        await self.get_instance(request.spec.agent_instance_id)
        session = _new_state(request, "Session", "ses")
        session.ClearField("status")
        session.spec.thread_id = session.spec.thread_id or f"thread_{session.metadata.id}"
        return await self.sessions.insert(session)

    async def update_session(self, request: session_pb2.Session) -> session_pb2.Session:
        validate_session(request)
        current = await self.get_session(request.metadata.id)
        if request.spec.agent_instance_id != current.spec.agent_instance_id:
            raise InvalidArgument("spec.agent_instance_id of a session cannot change")
        session = _updated_state(current, request)
        session.spec.thread_id = session.spec.thread_id or current.spec.thread_id
        session.status.CopyFrom(current.status)
        return await self.sessions.replace(session)

    async def apply_session(self, request: session_pb2.Session) -> session_pb2.Session:
        """Sessions have no unique name: apply updates the one with this id, else creates."""
        validate_session(request)
        known = request.metadata.id and is_valid_id(request.metadata.id)
        if known and await self.sessions.find_one({"_id": request.metadata.id}) is not None:
            return await self.update_session(request)
        return await self.create_session(request)

    async def delete_session(self, session_id: str) -> session_pb2.Session:
        return await self.sessions.delete(_require_id(session_id, "session"))

    async def get_session(self, session_id: str) -> session_pb2.Session:
        return await self.sessions.get(_require_id(session_id, "session"))

    async def list_sessions(
        self, *, agent_id: str = "", page_size: int = 20, page_token: str = ""
    ) -> ResourcePage[session_pb2.Session]:
        """Newest first. `agent_id` is an agent (all its instances) or an agent instance."""
        _page_size(page_size)
        query: dict[str, Any] = {}
        if agent_id:
            if not is_valid_id(agent_id):
                raise InvalidArgument("agent_id is not a valid id")
            query = {"spec.agent_instance_id": {"$in": await self._instance_ids(agent_id)}}
        return ResourcePage(*await self.sessions.page(query, page_size, page_token))

    async def list_sessions_of_agent(
        self, agent_id: str, *, page_size: int = 20, page_token: str = ""
    ) -> ResourcePage[session_pb2.Session]:
        if not agent_id:
            raise InvalidArgument("agent_id is required")
        return await self.list_sessions(agent_id=agent_id, page_size=page_size, page_token=page_token)

    async def _instance_ids(self, agent_or_instance_id: str) -> list[str]:
        if agent_or_instance_id.startswith("ain_"):
            return [agent_or_instance_id]
        instances = await self.instances.find_all({"spec.agent_id": agent_or_instance_id})
        return [i.metadata.id for i in instances]

    # -- the execution chain --------------------------------------------------------

    async def resolve_execution_target(self, session_id: str, agent_id: str, subject: str = "") -> ExecutionTarget:
        """session → instance → agent; with only an agent, a new session on its default instance."""
        if session_id:
            session = await self.get_session(session_id)
            instance = await self.get_instance(session.spec.agent_instance_id)
            agent = await self.get_agent(instance.spec.agent_id)
            if agent_id and agent_id != agent.metadata.id:
                raise InvalidArgument(
                    f"session {session_id!r} belongs to agent {agent.metadata.id!r}, not {agent_id!r}"
                )
            return ExecutionTarget(session, instance, agent, new_session=False)
        if not agent_id:
            raise InvalidArgument("spec.session_id or spec.agent_id is required")
        agent = await self.get_agent(agent_id)
        if not agent.status.default_instance_id:
            raise NotFound(f"agent {agent_id!r} has no default instance")
        instance = await self.get_instance(agent.status.default_instance_id)
        request = session_pb2.Session()
        request.spec.agent_instance_id = instance.metadata.id
        request.spec.subject = subject[:200]
        session = await self.create_session(request)
        return ExecutionTarget(session, instance, agent, new_session=True)

    async def _existing(self, store: ResourceStore[R], request: R) -> R | None:
        if request.metadata.id and is_valid_id(request.metadata.id):
            found = await store.find_one({"_id": request.metadata.id})
            if found is not None:
                return found
        return await store.find_one({"metadata.slug": request.metadata.slug or slugify(request.metadata.name)})


def _page_size(page_size: int) -> None:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")


def _new_state(request: R, kind: str, id_prefix: str) -> R:
    """A copy of `request` as a new resource: our id, header and slug."""
    resource = type(request)()
    resource.CopyFrom(request)
    resource.api_version = API_VERSION
    resource.kind = kind
    resource.metadata.id = new_id(id_prefix)
    resource.metadata.name = resource.metadata.name or resource.metadata.id
    resource.metadata.slug = resource.metadata.slug or slugify(resource.metadata.name)
    return resource


def _updated_state(current: R, request: R) -> R:
    """`request`'s metadata and spec over `current`; identity stays."""
    resource = type(request)()
    resource.CopyFrom(request)
    resource.api_version = API_VERSION
    resource.kind = current.kind
    resource.metadata.id = current.metadata.id
    resource.metadata.name = request.metadata.name or current.metadata.name
    resource.metadata.slug = request.metadata.slug or slugify(resource.metadata.name) or current.metadata.slug
    return resource


def _default_instance_of(agent: agent_pb2.Agent) -> instance_pb2.AgentInstance:
    instance = instance_pb2.AgentInstance()
    instance.metadata.name = f"{agent.metadata.slug}-default"
    instance.metadata.org = agent.metadata.org
    instance.spec.agent_id = agent.metadata.id
    instance.spec.description = "Default instance (auto-created, no custom configuration)"
    return instance


async def _insert(store: ResourceStore[R], resource: R) -> R:
    from persistence.agents import DuplicateSlug

    try:
        return await store.insert(resource)
    except DuplicateSlug:
        raise AlreadyExists(f"{store.what} {resource.metadata.slug!r} already exists") from None


async def _replace(store: ResourceStore[R], resource: R) -> R:
    from persistence.agents import DuplicateSlug

    try:
        return await store.replace(resource)
    except DuplicateSlug:
        raise AlreadyExists(f"{store.what} {resource.metadata.slug!r} already exists") from None


async def _by_reference(store: ResourceStore[R], ref: resource_io_pb2.ApiResourceReference, kind: int) -> R:
    if ref.kind not in (kind_pb2.api_resource_kind_unknown, kind):
        raise InvalidArgument(f"reference kind must be {kind_pb2.ApiResourceKind.Name(kind)}")
    if not ref.slug:
        raise InvalidArgument("reference slug is required")
    if len(ref.slug) > MAX_NAME:
        raise NotFound(f"{store.what} {ref.slug!r} not found")
    found = await store.find_by_slug_or_name(ref.slug)
    if found is None:
        raise NotFound(f"{store.what} {ref.slug!r} not found")
    return found
