"""REST request and response models: what /docs and /openapi.json describe.

Execution bodies themselves come from the one mapping (`convert.execution_to_body`);
the models here describe them for clients and validate what clients send before it is
handed to `convert.from_json`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, spec_pb2
from ai.stigmer.commons.apiresource import metadata_pb2
from api.proto_schema import model_for
from domain import limits
from domain.convert import PHASE_NAMES

# Map keys become MongoDB field names: no `$` prefix, no NUL, nothing odd.
LabelKey = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.MAX_KEY_CHARS, pattern=limits.LABEL_KEY_PATTERN)
]
EnvName = Annotated[
    str, StringConstraints(min_length=1, max_length=limits.MAX_KEY_CHARS, pattern=limits.ENV_NAME_PATTERN)
]
ShortText = Annotated[str, StringConstraints(max_length=limits.MAX_SHORT_TEXT)]
LongText = Annotated[str, StringConstraints(max_length=limits.MAX_LONG_TEXT)]

PHASES = sorted(PHASE_NAMES.values())


class _Strict(BaseModel):
    """Unknown fields are a client mistake, as in `convert.from_json`."""

    model_config = ConfigDict(extra="forbid")


# -- errors -------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable name, e.g. `not_found`.")
    message: str = Field(description="What went wrong, for humans.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not JSON"},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "The key's role may not do this (a runner key)"},
    404: {"model": ErrorResponse, "description": "No such resource"},
    409: {"model": ErrorResponse, "description": "Conflicts with what is stored (name taken, already ended)"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    422: {"model": ErrorResponse, "description": "The request breaks a rule (schema or service)"},
    503: {"model": ErrorResponse, "description": "A backing service is unavailable; retry"},
}


# -- agent executions -----------------------------------------------------------------


class ExecutionConfigIn(_Strict):
    model_name: ShortText = Field(
        default="", description="`scripted`, `openai:…`, `anthropic:…`, `ollama:…`; empty = the agent's."
    )


class ExecutionValueIn(_Strict):
    """A runtime_env value. Secrets reach the agent but read back as
    `{"value": "", "is_secret": true}`."""

    value: LongText
    is_secret: bool = False


def _plain_value(value: Any) -> Any:
    """`"NAME": "text"` (the older shape) is `{"value": "text"}`."""
    return {"value": value} if isinstance(value, str) else value


EnvValue = Annotated[ExecutionValueIn, BeforeValidator(_plain_value)]


class ExecutionSpecIn(_Strict):
    message: str = Field(description="The user's message to the agent.")
    agent_id: ShortText = Field(default="", description="Starts a new session of this agent (its id, name or slug).")
    session_id: ShortText = Field(default="", description="Continues this session.")
    execution_config: ExecutionConfigIn | None = None
    runtime_env: dict[EnvName, EnvValue] = Field(
        default_factory=dict,
        max_length=100,
        description='`{"NAME": {"value": "…", "is_secret": false}}`; a plain string is a non-secret value.',
    )


class ExecutionMetadataIn(_Strict):
    name: ShortText = ""
    slug: ShortText = ""
    org: ShortText = ""
    owner_scope: ShortText | None = Field(
        default=None, description="Must stay unset: an execution inherits its owner from its session."
    )
    labels: dict[LabelKey, ShortText] = Field(default_factory=dict, max_length=limits.MAX_MAP_ENTRIES)
    annotations: dict[LabelKey, LongText] = Field(default_factory=dict, max_length=limits.MAX_MAP_ENTRIES)
    tags: list[ShortText] = Field(default_factory=list, max_length=limits.MAX_MAP_ENTRIES)


class ExecutionCreate(_Strict):
    """Mirrors the proto JSON of `AgentExecution`; either `agent_id` or `session_id` is required."""

    api_version: ShortText | None = Field(default=None, description="`agentic.stigmer.ai/v1` when set.")
    kind: ShortText | None = Field(default=None, description="`AgentExecution` when set.")
    spec: ExecutionSpecIn
    metadata: ExecutionMetadataIn | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"spec": {"message": "Plan a trip to Lisbon", "agent_id": "agt_…"}}]
        },
    )


class Execution(BaseModel):
    """An agent execution: its proto3 JSON (snake_case names, enum names as strings; secret
    `runtime_env` values read back empty; no callback token), plus the document `version`."""

    model_config = ConfigDict(extra="forbid")

    api_version: str = "agentic.stigmer.ai/v1"
    kind: str = "AgentExecution"
    metadata: model_for(metadata_pb2.ApiResourceMetadata.DESCRIPTOR)  # type: ignore[valid-type]
    spec: model_for(spec_pb2.AgentExecutionSpec.DESCRIPTOR)  # type: ignore[valid-type]
    status: model_for(api_pb2.AgentExecutionStatus.DESCRIPTOR) | None = None  # type: ignore[valid-type]
    version: int = Field(description="Monotonic document version; the SSE event id.")


class ExecutionList(BaseModel):
    entries: list[Execution]
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty on the last.")
    total: int = Field(description="How many executions match the filters.")


# -- agents and sessions (Stigmer's agent.v1 and session.v1 in the proto JSON mapping) --

Name = Annotated[str, StringConstraints(max_length=100)]
Text = Annotated[str, StringConstraints(max_length=100_000)]
StringMap = dict[LabelKey, LongText]


class ResourceMetadataIn(_Strict):
    name: Name = Field(default="", description="Unique among agents (by its slug).")
    slug: Name = Field(default="", description="Lowercase letters, digits, hyphens; default: from `name`.")
    org: ShortText = ""
    labels: dict[LabelKey, ShortText] = Field(default_factory=dict, max_length=limits.MAX_MAP_ENTRIES)
    annotations: dict[LabelKey, LongText] = Field(
        default_factory=dict, max_length=limits.MAX_MAP_ENTRIES,
        description="`stigmer/default-model` sets the agent's default model (`scripted`, `openai:…`, …).",
    )
    tags: list[ShortText] = Field(default_factory=list, max_length=limits.MAX_MAP_ENTRIES)


class StdioServerIn(_Strict):
    command: LongText
    args: list[LongText] = Field(default_factory=list, max_length=100)
    env_placeholders: StringMap = Field(default_factory=dict, max_length=100)
    working_dir: LongText = ""


class HttpServerIn(_Strict):
    url: LongText
    headers: StringMap = Field(default_factory=dict, max_length=100)
    query_params: StringMap = Field(default_factory=dict, max_length=100)
    timeout_seconds: int = Field(default=0, ge=0, le=86_400)


class McpServerIn(_Strict):
    """One of `stdio`, `http` or `docker` (a Docker server is stored as given)."""

    name: Name
    stdio: StdioServerIn | None = None
    http: HttpServerIn | None = None
    docker: dict[str, Any] | None = None
    enabled_tools: list[ShortText] = Field(default_factory=list, max_length=100)


class ResourceReferenceIn(_Strict):
    scope: ShortText = ""
    org: ShortText = ""
    kind: ShortText = ""
    slug: Name = ""
    version: ShortText = ""


class McpToolSelectionIn(_Strict):
    enabled_tools: list[ShortText] = Field(default_factory=list, max_length=100)


class SubAgentIn(_Strict):
    name: Name
    description: LongText = ""
    instructions: Text = Field(default="", description="At least 10 characters.")
    mcp_servers: list[Name] = Field(default_factory=list, max_length=100, description="Names of the agent's servers.")
    mcp_tool_selections: dict[LabelKey, McpToolSelectionIn] = Field(default_factory=dict, max_length=100)
    skill_refs: list[ResourceReferenceIn] = Field(default_factory=list, max_length=100)


class EnvironmentValueIn(_Strict):
    value: LongText = ""
    is_secret: bool = False
    description: LongText = ""


class EnvironmentSpecIn(_Strict):
    description: LongText = ""
    data: dict[EnvName, EnvironmentValueIn] = Field(default_factory=dict, max_length=100)


class AgentSpecIn(_Strict):
    description: LongText = ""
    icon_url: LongText = ""
    instructions: Text = Field(description="The agent's system prompt; at least 10 characters.")
    mcp_servers: list[McpServerIn] = Field(default_factory=list, max_length=100)
    skill_refs: list[ResourceReferenceIn] = Field(default_factory=list, max_length=100)
    sub_agents: list[SubAgentIn] = Field(default_factory=list, max_length=100)
    env_spec: EnvironmentSpecIn | None = None


class AgentCreate(_Strict):
    """Mirrors the proto JSON of Stigmer's `Agent`."""

    api_version: ShortText = ""
    kind: ShortText = ""
    metadata: ResourceMetadataIn
    spec: AgentSpecIn

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{
                "metadata": {"name": "helper"},
                "spec": {
                    "instructions": "You help with short, precise answers.",
                    "mcp_servers": [{"name": "time", "stdio": {"command": "mcp-server-time"}}],
                    "sub_agents": [{"name": "researcher", "instructions": "Look things up and summarise."}],
                },
            }]
        },
    )


class ProtoResource(BaseModel):
    """A Stigmer resource as proto JSON with snake_case names (fields it does not name pass through)."""

    model_config = ConfigDict(extra="allow")

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] = Field(default_factory=dict)


class Resource(BaseModel):
    """A stored resource: proto JSON with snake_case names, and its document `version`."""

    model_config = ConfigDict(extra="allow")

    api_version: str
    kind: str
    metadata: dict[str, Any] = Field(description="`id`, `name`, `slug`, labels, annotations, …")
    spec: dict[str, Any]
    status: dict[str, Any] = Field(default_factory=dict)
    version: int = Field(description="Monotonic document version.")


class Agent(Resource):
    """`spec`: `instructions`, `mcp_servers`, `sub_agents`, …; `status.default_instance_id`."""


class Session(Resource):
    """`spec`: `agent_instance_id`, `subject`, `thread_id`, `sandbox_id`, `metadata`."""


class AgentList(BaseModel):
    entries: list[Agent]
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty on the last.")
    total: int = Field(description="How many agents there are.")


class SessionList(BaseModel):
    entries: list[Session]
    next_page_token: str = Field(description="Pass as `page_token` for the next page; empty on the last.")
    total: int = Field(description="How many sessions match the filter.")


# -- health ---------------------------------------------------------------------------


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(description="`ok` or `unavailable`.")
    checks: dict[str, str] = Field(description="Each backing service: `ok`, `not configured` or why it is down.")
