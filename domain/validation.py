"""Stigmer's validation rules for agent executions, in one place for every transport.

Each rule answers `InvalidArgument` (gRPC INVALID_ARGUMENT, REST 400) before anything is
stored. They mirror the `buf.validate` constraints of Stigmer's own contract:

* `api_version` is `agentic.stigmer.ai/v1` and `kind` is `AgentExecution` when set;
* `metadata.owner_scope` is unspecified (an execution inherits its owner from its session);
* `spec.message` is not empty (on create);
* `updateStatus` names an execution and carries a status;
* `applyStatusPatch` names an execution, numbers its patch from 1, each change is one
  of the kinds of `StatusChange`, and it changes no more than domain/limits.py allows;
* every enum value is a defined one, anywhere in the message (phase, message type,
  tool-call, todo and sub-agent status, owner scope). proto3 enums are open, so an
  undefined number would otherwise be stored as a bare integer.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, patch_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2
from domain.convert import API_VERSION, KIND, to_json
from domain.errors import InvalidArgument
from domain.limits import (
    MAX_MAP_ENTRIES,
    MAX_PATCH_CHANGES,
    MAX_STRUCT_DEPTH,
    check_keys,
    check_patch_bounds,
    struct_depth,
)
from domain.model_names import parse_model_name

_UNSPECIFIED_SCOPE = resource_enum_pb2.api_resource_owner_scope_unspecified
_DEFINED = {
    name: frozenset(enum.values())
    for name, enum in {
        "ExecutionPhase": enum_pb2.ExecutionPhase,
        "MessageType": enum_pb2.MessageType,
        "ToolCallStatus": enum_pb2.ToolCallStatus,
        "TodoStatus": enum_pb2.TodoStatus,
        "SubAgentStatus": enum_pb2.SubAgentStatus,
    }.items()
}


def validate_new_execution(execution: api_pb2.AgentExecution, *, max_message_chars: int) -> None:
    """A create request: the resource rules, a non-empty message, defined enums."""
    _validate_resource(execution)
    message = execution.spec.message
    if not message.strip():
        raise InvalidArgument("spec.message is required")
    if len(message) > max_message_chars:
        raise InvalidArgument(f"spec.message is longer than {max_message_chars} characters")
    check_model_name(execution.spec.execution_config.model_name, "spec.execution_config.model_name")
    metadata = execution.metadata
    check_keys("metadata.labels", list(metadata.labels))
    check_keys("metadata.annotations", list(metadata.annotations))
    if len(metadata.tags) > MAX_MAP_ENTRIES:
        raise InvalidArgument(f"metadata.tags has more than {MAX_MAP_ENTRIES} entries")
    check_keys("spec.runtime_env", list(execution.spec.runtime_env), env_names=True)


def check_model_name(name: str, field: str) -> None:
    """An empty name means the agent's or the service's default; anything else must be a
    model the runner can build (named here, not at run time)."""
    if name.strip():
        try:
            parse_model_name(name)
        except ValueError as exc:
            raise InvalidArgument(f"{field}: {exc}") from None


def validate_execution_update(execution: api_pb2.AgentExecution) -> None:
    """An update request: the resource rules and defined enums (the message is not edited)."""
    _validate_resource(execution)


def validate_status_update(
    execution_id: str, status: api_pb2.AgentExecutionStatus | None
) -> api_pb2.AgentExecutionStatus:
    """A runner's `updateStatus`: an id, a status, and only defined enum values in it."""
    if not execution_id:
        raise InvalidArgument("execution_id is required")
    if status is None:
        raise InvalidArgument("status is required")
    _require_defined_status_enums(status)
    for call in status.tool_calls:
        if struct_depth(json_format.MessageToDict(call.args)) > MAX_STRUCT_DEPTH:
            raise InvalidArgument(f"tool call {call.id!r}: args nest deeper than {MAX_STRUCT_DEPTH} levels")
    return status


def validate_status_patch(patch: patch_pb2.AgentExecutionStatusPatch) -> list[dict[str, Any]]:
    """A runner's `applyStatusPatch`; returns its changes as proto JSON
    (domain/status_changes.py)."""
    if not patch.execution_id:
        raise InvalidArgument("execution_id is required")
    if patch.sequence <= 0:
        raise InvalidArgument("sequence must be above 0: patches are numbered from 1")
    if len(patch.changes) > MAX_PATCH_CHANGES:  # before converting them
        check_patch_bounds([{}] * len(patch.changes))
    kinds = [change.WhichOneof("change") for change in patch.changes]
    for index, kind in enumerate(kinds):
        if kind is None:
            raise InvalidArgument(f"changes[{index}] sets none of the kinds of change")
    if all(kind == "append_text" for kind in kinds):
        # Most of a run's patches: built field by field, as their proto JSON would read.
        changes = [_append_json(change.append_text) for change in patch.changes]
    else:
        require_defined_enums(patch)
        changes = to_json(patch).get("changes", [])
    check_patch_bounds(changes)
    return changes


def _append_json(append: patch_pb2.TextAppend) -> dict[str, Any]:
    """A text append's proto JSON (zeros and empty strings left out)."""
    body: dict[str, Any] = {}
    if append.index:
        body["index"] = append.index
    if append.offset:
        body["offset"] = append.offset
    if append.text:
        body["text"] = append.text
    return {"append_text": body}


def require_defined_enums(message: Message, path: str = "") -> None:
    """Refuse any enum field, at any depth, that holds a number its enum does not define."""
    for field, value in message.ListFields():
        where = f"{path}.{field.name}" if path else field.name
        # An enum field has `enum_type`, a message field `message_type`; others neither.
        enum_type, message_type = field.enum_type, field.message_type
        if enum_type is not None:
            values = value if _is_repeated(field) else [value]
            for number in values:
                if number not in enum_type.values_by_number:
                    raise _undefined(where, number, enum_type.name)
        elif message_type is not None and _may_hold_enums(message_type):
            if message_type.GetOptions().map_entry:
                value_field = message_type.fields_by_name["value"]
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    for key, item in value.items():
                        require_defined_enums(item, f"{where}[{key}]")
            elif _is_repeated(field):
                for index, item in enumerate(value):
                    require_defined_enums(item, f"{where}[{index}]")
            else:
                require_defined_enums(value, where)


def _require_defined_status_enums(status: api_pb2.AgentExecutionStatus) -> None:
    """`require_defined_enums(status, "status")`, spelled out: a status carries the whole
    conversation on every update, and direct field reads are several times faster."""
    phases, types, calls, subs, todos = (
        _DEFINED[n]
        for n in ("ExecutionPhase", "MessageType", "ToolCallStatus", "SubAgentStatus", "TodoStatus")
    )
    if status.phase not in phases:
        raise _undefined("status.phase", status.phase, "ExecutionPhase")
    for i, message in enumerate(status.messages):
        if message.type not in types:
            raise _undefined(f"status.messages[{i}].type", message.type, "MessageType")
        for j, call in enumerate(message.tool_calls):
            if call.status not in calls:
                where = f"status.messages[{i}].tool_calls[{j}].status"
                raise _undefined(where, call.status, "ToolCallStatus")
    for i, call in enumerate(status.tool_calls):
        if call.status not in calls:
            raise _undefined(f"status.tool_calls[{i}].status", call.status, "ToolCallStatus")
    for i, sub in enumerate(status.sub_agent_executions):
        if sub.status not in subs:
            raise _undefined(f"status.sub_agent_executions[{i}].status", sub.status, "SubAgentStatus")
    for key, todo in status.todos.items():
        if todo.status not in todos:
            raise _undefined(f"status.todos[{key}].status", todo.status, "TodoStatus")


def _undefined(where: str, number: int, enum_name: str) -> InvalidArgument:
    return InvalidArgument(f"{where}: {number} is not a defined {enum_name} value")


def _validate_resource(execution: api_pb2.AgentExecution) -> None:
    if execution.api_version and execution.api_version != API_VERSION:
        raise InvalidArgument(f"api_version must be {API_VERSION!r}, not {execution.api_version!r}")
    if execution.kind and execution.kind != KIND:
        raise InvalidArgument(f"kind must be {KIND!r}, not {execution.kind!r}")
    if execution.metadata.owner_scope != _UNSPECIFIED_SCOPE:
        raise InvalidArgument(
            "metadata.owner_scope must be unspecified: an agent execution inherits its "
            "owner from its session"
        )
    for key, value in execution.spec.runtime_env.items():
        if value.is_secret and not value.value:
            raise InvalidArgument(
                f"spec.runtime_env[{key}]: a secret needs its value (reads return secrets redacted)"
            )
        if not value.value:  # Stigmer's ExecutionValue rule: at least 1 character
            raise InvalidArgument(f"spec.runtime_env[{key}].value must be at least 1 character")
    require_defined_enums(execution)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _may_hold_enums(descriptor: Descriptor) -> bool:
    """Well-known types (Struct, Timestamp…) hold no contract enums; skip walking them."""
    return not descriptor.full_name.startswith("google.protobuf.")
