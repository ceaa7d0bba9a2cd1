"""The rules of resources: what every kind shares (its header, references to it), what a
valid agent, agent instance and session is, slugs, and an agent's default model.

An agent's default model is the annotation `DEFAULT_MODEL_ANNOTATION` (Stigmer's AgentSpec
has no model field); an execution's `execution_config.model_name` overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence, Sized
from typing import Protocol

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2, spec_pb2 as agent_spec_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2, metadata_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from domain.convert import API_VERSION
from domain.errors import InvalidArgument
from domain.limits import check_keys
from domain.mcp_policy import McpPolicy, McpPolicyError
from domain.validation import check_model_name

DEFAULT_MODEL_ANNOTATION = "stigmer/default-model"
MIN_INSTRUCTIONS = 10  # Stigmer's rule for agents and sub-agents
MAX_TEXT = 100_000
MAX_NAME = 100
MAX_ITEMS = 100
MAX_DESCRIPTION = 4096
_REFERENCE_VERSION = re.compile(r"^$|^latest$|^[a-zA-Z0-9._-]+$|^[a-f0-9]{64}$")

Resource = agent_pb2.Agent | instance_pb2.AgentInstance | session_pb2.Session


def slugify(name: str) -> str:
    """Stigmer's slug: lowercase, spaces to hyphens, only [a-z0-9-], no doubled or edge hyphens."""
    slug = re.sub(r"[^a-z0-9-]", "", name.lower().replace(" ", "-"))
    return re.sub(r"-{2,}", "-", slug).strip("-")


def default_model(agent: agent_pb2.Agent) -> str:
    return agent.metadata.annotations.get(DEFAULT_MODEL_ANNOTATION, "")


class ApiResource(Protocol):
    """What Stigmer's resources share: a header and metadata."""

    api_version: str
    kind: str

    @property
    def metadata(self) -> metadata_pb2.ApiResourceMetadata: ...


def check_text(value: str, field: str, *, required: bool = False, limit: int = MAX_DESCRIPTION) -> None:
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
    check_text(metadata.name, "metadata.name", limit=MAX_NAME)
    check_text(metadata.slug, "metadata.slug", limit=MAX_NAME)
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
    check_text(server.name, f"{field}.name", required=True, limit=MAX_NAME)
    _count(server.enabled_tools, f"{field}.enabled_tools")
    kind = server.WhichOneof("server_type")
    if kind is None:
        raise InvalidArgument(f"{field} needs one of stdio, http or docker")
    if kind == "stdio":
        check_text(server.stdio.command, f"{field}.stdio.command", required=True, limit=4096)
        _keys(server.stdio.env_placeholders, f"{field}.stdio.env_placeholders")
        _count(server.stdio.args, f"{field}.stdio.args")
    elif kind == "http":
        check_text(server.http.url, f"{field}.http.url", required=True, limit=4096)
        if not server.http.url.startswith(("http://", "https://")):
            raise InvalidArgument(f"{field}.http.url must be an http(s) URL")
        if server.http.timeout_seconds < 0:
            raise InvalidArgument(f"{field}.http.timeout_seconds must not be negative")
        _keys(server.http.headers, f"{field}.http.headers")
        _keys(server.http.query_params, f"{field}.http.query_params")
    else:
        check_text(server.docker.image, f"{field}.docker.image", required=True, limit=4096)
        _keys(server.docker.env_placeholders, f"{field}.docker.env_placeholders")
        for j, volume in enumerate(server.docker.volumes):
            if not volume.host_path or not volume.container_path:
                raise InvalidArgument(f"{field}.docker.volumes[{j}] needs host_path and container_path")
        for j, port in enumerate(server.docker.ports):
            if port.host_port < 1 or port.container_port < 1:
                raise InvalidArgument(f"{field}.docker.ports[{j}] ports must be at least 1")


def check_header(resource: ApiResource, kind: str, *, name_required: bool = True) -> None:
    """The header of skills, environments, execution contexts and workflows: api_version and
    kind (empty means ours), name, slug, labels, annotations, tags."""
    if resource.api_version and resource.api_version != API_VERSION:
        raise InvalidArgument(f"api_version must be {API_VERSION!r}")
    if resource.kind and resource.kind != kind:
        raise InvalidArgument(f"kind must be {kind!r}")
    metadata = resource.metadata
    check_text(metadata.name, "metadata.name", required=name_required, limit=MAX_NAME)
    check_text(metadata.slug, "metadata.slug", limit=MAX_NAME)
    check_text(metadata.org, "metadata.org", limit=MAX_NAME)
    if metadata.slug and slugify(metadata.slug) != metadata.slug:
        raise InvalidArgument("metadata.slug may only hold lowercase letters, digits and hyphens")
    if (metadata.name or metadata.slug) and not (metadata.slug or slugify(metadata.name)):
        raise InvalidArgument(f"metadata.name {metadata.name!r} gives an empty slug")
    check_keys("metadata.labels", list(metadata.labels))
    check_keys("metadata.annotations", list(metadata.annotations))
    if len(metadata.tags) > 64:
        raise InvalidArgument("metadata.tags has more than 64 entries")


def check_reference(ref: resource_io_pb2.ApiResourceReference, kind: int) -> str:
    """A reference's slug, once its kind and slug are sound."""
    if ref.kind not in (kind_pb2.api_resource_kind_unknown, kind):
        raise InvalidArgument(f"reference kind must be {kind_pb2.ApiResourceKind.Name(kind)}")
    if not ref.slug:
        raise InvalidArgument("reference slug is required")
    if len(ref.slug) > MAX_NAME:
        raise InvalidArgument(f"reference slug is longer than {MAX_NAME} characters")
    return ref.slug


def validate_agent(agent: agent_pb2.Agent) -> None:
    _header(agent, "Agent")
    check_text(agent.metadata.name, "metadata.name", required=True, limit=MAX_NAME)
    spec = agent.spec
    check_text(spec.description, "spec.description", limit=4096)
    check_text(spec.icon_url, "spec.icon_url", limit=4096)
    check_text(spec.instructions, "spec.instructions", limit=MAX_TEXT)
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
        check_text(sub.name, f"{field}.name", required=True, limit=MAX_NAME)
        if sub.name in names:
            raise InvalidArgument(f"spec.sub_agents has two sub-agents named {sub.name!r}")
        names.add(sub.name)
        check_text(sub.description, f"{field}.description", limit=4096)
        check_text(sub.instructions, f"{field}.instructions", limit=MAX_TEXT)
        if len(sub.instructions.strip()) < MIN_INSTRUCTIONS:
            raise InvalidArgument(f"{field}.instructions must be at least {MIN_INSTRUCTIONS} characters")
        _keys(sub.mcp_tool_selections, f"{field}.mcp_tool_selections")
        unknown = sorted({*sub.mcp_servers, *sub.mcp_tool_selections} - servers)
        if unknown:
            raise InvalidArgument(f"{field} names MCP servers the agent does not declare: {unknown}")
        _references(sub.skill_refs, f"{field}.skill_refs", kind_pb2.skill)
    _keys(spec.env_spec.data, "spec.env_spec.data")


def check_mcp_policy(agent: agent_pb2.Agent, policy: McpPolicy) -> None:
    """Every MCP server of `agent` is one the operator allows (domain/mcp_policy.py)."""
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
    check_text(instance.metadata.name, "metadata.name", required=True, limit=MAX_NAME)
    check_text(instance.spec.agent_id, "spec.agent_id", required=True, limit=128)
    check_text(instance.spec.description, "spec.description", limit=4096)
    _references(instance.spec.environment_refs, "spec.environment_refs", kind_pb2.environment)


def validate_session(session: session_pb2.Session) -> None:
    _header(session, "Session")
    spec = session.spec
    check_text(spec.agent_instance_id, "spec.agent_instance_id", required=True, limit=128)
    check_text(spec.subject, "spec.subject", limit=4096)
    check_text(spec.thread_id, "spec.thread_id", limit=256)
    check_text(spec.sandbox_id, "spec.sandbox_id", limit=256)
    _keys(spec.metadata, "spec.metadata")
