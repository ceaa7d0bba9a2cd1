"""The one mapping between proto messages and JSON bodies (MongoDB documents are their
JSON, laid out by persistence/status_layout.py).

JSON and Mongo share the proto3 JSON mapping with snake_case field names and enum
names as strings, so a stored document reads like the REST body of the same resource.

Every read path (REST, SSE, gRPC, the terminal client) gets its executions from
`execution_to_body` or `public_execution`, which redact: a secret
`runtime_env` value reads back as `{"value": "", "is_secret": true}` and callback
tokens are left out. Only the workflow start sees the stored execution whole.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from ai.stigmer.agentic.agentinstance.v1 import api_pb2 as instance_pb2
from ai.stigmer.agentic.session.v1 import api_pb2 as session_pb2
from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as workflow_execution_pb2
from domain.errors import InvalidArgument

API_VERSION = "agentic.stigmer.ai/v1"
KIND = "AgentExecution"

PHASE_NAMES = {v: k for k, v in enum_pb2.ExecutionPhase.items()}
REDACTED_VALUE = ""  # what a secret runtime_env value reads as

Resource = agent_pb2.Agent | instance_pb2.AgentInstance | session_pb2.Session
# The resources whose `spec.env_spec` may hold secrets.
WithEnvSpec = TypeVar("WithEnvSpec", agent_pb2.Agent, workflow_pb2.Workflow)
Execution = TypeVar("Execution", api_pb2.AgentExecution, workflow_execution_pb2.WorkflowExecution)


def to_json(message: Message) -> dict[str, Any]:
    """Proto → JSON-ready dict (snake_case, enum names, RFC 3339 timestamps)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def from_json(data: Any, message: Message) -> Message:
    """JSON dict → proto; unknown fields or wrong types are the client's mistake."""
    if not isinstance(data, dict):
        raise InvalidArgument("expected a JSON object")
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise InvalidArgument(str(exc)) from exc


def phase_name(phase: int) -> str:
    return PHASE_NAMES.get(phase, "EXECUTION_PHASE_UNSPECIFIED")


def phase_from_name(name: str) -> int:
    try:
        return enum_pb2.ExecutionPhase.Value(name.upper())
    except ValueError as exc:
        raise InvalidArgument(f"unknown phase {name!r}; one of {sorted(PHASE_NAMES.values())}") from exc




def execution_to_body(execution: api_pb2.AgentExecution) -> dict[str, Any]:
    """The REST/SSE body: proto JSON with `version` as a plain integer at the top."""
    body = to_json(execution)
    body.get("status", {}).pop("version", None)
    body.get("spec", {}).pop("callback_token", None)
    body.get("status", {}).pop("callback_token", None)
    _redact_env_in_body(body)
    body["version"] = execution.status.version
    return body


def public_execution(execution: api_pb2.AgentExecution) -> api_pb2.AgentExecution:
    """The execution as a gRPC reader may see it: secrets redacted, no callback tokens."""
    secret = _secret_keys(execution)
    if not (secret or execution.spec.callback_token or execution.status.callback_token):
        return execution
    public = _shown(execution, secret)
    public.status.callback_token = b""
    return public


def _secret_keys(execution: Execution) -> list[str]:
    return [k for k, v in execution.spec.runtime_env.items() if v.is_secret and v.value]


def _shown(execution: Execution, secret: list[str]) -> Execution:
    """A copy with the `secret` runtime_env values redacted and no callback token in the spec."""
    shown = type(execution)()
    shown.CopyFrom(execution)
    for key in secret:
        shown.spec.runtime_env[key].value = REDACTED_VALUE
    shown.spec.callback_token = b""
    return shown


def _redact_env_in_body(body: dict[str, Any]) -> None:
    """Replace secret runtime_env values in a body (the body's own dicts are copied)."""
    env = body.get("spec", {}).get("runtime_env")
    if not env:
        return
    public = {}
    for key, value in env_values(env).items():
        if value.get("is_secret"):
            value = {"value": REDACTED_VALUE, "is_secret": True}
        public[key] = value
    body["spec"] = {**body["spec"], "runtime_env": public}


def env_values(env: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """runtime_env entries as ExecutionValue JSON; documents written before values were
    messages hold plain strings."""
    return {k: {"value": v} if isinstance(v, str) else v for k, v in env.items()}


def status_fields_to_set(status: api_pb2.AgentExecutionStatus) -> dict[str, Any]:
    """The stored status fields an update overwrites (ARCHITECTURE.md, "Status merge"): only non-empty ones.

    Lists and maps replace the stored ones when non-empty; scalars overwrite when set;
    everything empty or unset leaves the stored value alone.
    """
    body = to_json(status)  # MessageToDict already omits empty/unset fields
    body.pop("version", None)
    body.pop("audit", None)
    return body


def body_to_execution(body: dict[str, Any]) -> api_pb2.AgentExecution:
    """Inverse of `execution_to_body` (bus events → proto for gRPC subscribe)."""
    return _from_body(body, api_pb2.AgentExecution())


def _from_body(body: dict[str, Any], execution: Execution) -> Execution:
    """`execution` filled from a REST/SSE body, whose top-level `version` is the status's."""
    fields = {k: v for k, v in body.items() if k != "version"}
    json_format.ParseDict(fields, execution, ignore_unknown_fields=True)
    execution.status.version = int(body.get("version", 0))
    return execution


# -- agents, instances, sessions ------------------------------------------------------


def resource_to_body(resource: Resource) -> dict[str, Any]:
    """The REST body of a resource: proto JSON (snake_case) with `version` at the top."""
    body = to_json(resource)
    body.setdefault("status", {}).pop("version", None)
    body["version"] = resource.status.version
    return body


def resource_body(resource: Message, version: int | None = None) -> dict[str, Any]:
    """The REST body of any resource kind: proto JSON (snake_case names), the document
    `version` at the top (`version`, else the status's own, else none)."""
    body = to_json(resource)
    status = body.setdefault("status", {})
    stored = status.pop("version", None)
    if version is None and stored is not None:
        version = int(stored)
    if version is not None:
        body["version"] = version
    return body


def without_secrets(resource: WithEnvSpec) -> WithEnvSpec:
    """No read path returns a secret: `env_spec` values marked secret read as "" (agents
    and workflows)."""
    for value in resource.spec.env_spec.data.values():
        if value.is_secret:
            value.value = ""
    return resource


def keep_secrets(resource: WithEnvSpec, current: WithEnvSpec) -> None:
    """An update that sends a secret back as read ("") keeps the stored value."""
    stored = current.spec.env_spec.data
    for key, value in resource.spec.env_spec.data.items():
        if value.is_secret and not value.value and key in stored:
            value.value = stored[key].value


# -- workflow executions --------------------------------------------------------------


def public_workflow_execution(
    execution: workflow_execution_pb2.WorkflowExecution,
) -> workflow_execution_pb2.WorkflowExecution:
    """As any reader may see it: secret runtime_env values redacted, no callback token."""
    secret = _secret_keys(execution)
    if not (secret or execution.spec.callback_token):
        return execution
    return _shown(execution, secret)


def workflow_execution_to_body(execution: workflow_execution_pb2.WorkflowExecution) -> dict[str, Any]:
    """The REST/SSE body: proto JSON (snake_case) of the public view, `version` at the top."""
    body = to_json(public_workflow_execution(execution))
    body.get("status", {}).pop("version", None)
    body["version"] = execution.status.version
    return body


def body_to_workflow_execution(body: dict[str, Any]) -> workflow_execution_pb2.WorkflowExecution:
    """Inverse of `workflow_execution_to_body` (bus states → proto for gRPC subscribe)."""
    return _from_body(body, workflow_execution_pb2.WorkflowExecution())
