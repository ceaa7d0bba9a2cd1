"""Pure rules of workflows and workflow instances: what a valid one is.

Stigmer's own rules (its protos' validation annotations) plus ours, checked before the
workflow runner is asked: task names unique at each level, every `flow.then` (and switch
`then`) names a sibling task or a flow directive, every kind known, and every
`task_config` decodes strictly into its kind's message (`tasks/*.proto`) and keeps that
message's rules. Nested task lists (`for`, `fork`, `try`) are checked the same way.
Nothing here reads storage.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2, spec_pb2
from ai.stigmer.agentic.workflow.v1.tasks import (
    agent_call_pb2,
    call_activity_pb2,
    for_pb2,
    fork_pb2,
    grpc_call_pb2,
    http_call_pb2,
    listen_pb2,
    raise_pb2,
    run_pb2,
    set_pb2,
    switch_pb2,
    try_pb2,
    wait_pb2,
)
from ai.stigmer.agentic.workflowinstance.v1 import api_pb2 as instance_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2, io_pb2 as resource_io_pb2
from ai.stigmer.commons.apiresource.apiresourcekind import api_resource_kind_pb2 as kind_pb2
from domain.convert import API_VERSION
from domain.errors import InvalidArgument
from domain.resource_rules import slugify

Kind = resource_enum_pb2.WorkflowTaskKind
TaskList = Sequence[spec_pb2.WorkflowTask]

WORKFLOW_KIND = "Workflow"
INSTANCE_KIND = "WorkflowInstance"
DSL_VERSION = "1.0.0"
# Serverless Workflow's flow directives: what `then` may name besides a sibling task.
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})
MAX_NAME = 100
MAX_TEXT = 100_000
MAX_TASKS = 500  # in the whole document, nested ones included
MAX_DEPTH = 10
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
LISTEN_MODES = ("one", "all")
SIGNAL_TYPES = ("signal", "query", "update")

# Each kind's config message (Stigmer's `tasks/*.proto`).
CONFIG_TYPES: dict[int, type[Message]] = {
    Kind.WORKFLOW_TASK_KIND_SET: set_pb2.SetTaskConfig,
    Kind.WORKFLOW_TASK_KIND_HTTP_CALL: http_call_pb2.HttpCallTaskConfig,
    Kind.WORKFLOW_TASK_KIND_GRPC_CALL: grpc_call_pb2.GrpcCallTaskConfig,
    Kind.WORKFLOW_TASK_KIND_CALL_ACTIVITY: call_activity_pb2.CallActivityTaskConfig,
    Kind.WORKFLOW_TASK_KIND_SWITCH: switch_pb2.SwitchTaskConfig,
    Kind.WORKFLOW_TASK_KIND_FOR: for_pb2.ForTaskConfig,
    Kind.WORKFLOW_TASK_KIND_FORK: fork_pb2.ForkTaskConfig,
    Kind.WORKFLOW_TASK_KIND_TRY: try_pb2.TryTaskConfig,
    Kind.WORKFLOW_TASK_KIND_LISTEN: listen_pb2.ListenTaskConfig,
    Kind.WORKFLOW_TASK_KIND_WAIT: wait_pb2.WaitTaskConfig,
    Kind.WORKFLOW_TASK_KIND_RAISE: raise_pb2.RaiseTaskConfig,
    Kind.WORKFLOW_TASK_KIND_RUN: run_pb2.RunTaskConfig,
    Kind.WORKFLOW_TASK_KIND_AGENT_CALL: agent_call_pb2.AgentCallTaskConfig,
}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


def _text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> None:
    _require(not required or bool(value.strip()), f"{field} is required")
    _require(len(value) <= limit, f"{field} is longer than {limit} characters")


def _one_of(value: str, allowed: Collection[str], field: str) -> None:
    _require(value in allowed, f"{field} must be one of {', '.join(allowed)} (got {value!r})")


def _keys(mapping: Collection[str], field: str) -> None:
    """Map keys become MongoDB field names: plain, short, no `$` prefix, dots or NUL."""
    _require(len(mapping) <= MAX_NAME, f"{field} has more than {MAX_NAME} entries")
    for key in mapping:
        ok = key and len(key) <= 128 and not key.startswith("$") and "." not in key and "\0" not in key
        _require(bool(ok), f"{field} has an invalid key {key!r}")


def _header(resource: workflow_pb2.Workflow | instance_pb2.WorkflowInstance, kind: str) -> None:
    _require(not resource.api_version or resource.api_version == API_VERSION, f"api_version must be {API_VERSION!r}")
    _require(not resource.kind or resource.kind == kind, f"kind must be {kind!r}")
    metadata = resource.metadata
    _text(metadata.name, "metadata.name", required=True, limit=MAX_NAME)
    _text(metadata.slug, "metadata.slug", limit=MAX_NAME)
    _require(not metadata.slug or slugify(metadata.slug) == metadata.slug,
             "metadata.slug may only hold lowercase letters, digits and hyphens")
    _require(bool(slugify(metadata.slug or metadata.name)), "metadata.name needs a letter or a digit")
    _require(metadata.owner_scope in resource_enum_pb2.ApiResourceOwnerScope.values(),
             f"metadata.owner_scope {metadata.owner_scope} is not defined")
    _keys(metadata.labels, "metadata.labels")
    _keys(metadata.annotations, "metadata.annotations")
    _require(len(metadata.tags) <= MAX_NAME, f"metadata.tags has more than {MAX_NAME} entries")


# -- workflows --------------------------------------------------------------------------


def validate_workflow(workflow: workflow_pb2.Workflow) -> None:
    """Everything checked before the runner sees the workflow; InvalidArgument names the field."""
    _header(workflow, WORKFLOW_KIND)
    _require(workflow.metadata.owner_scope != resource_enum_pb2.identity_account,
             "a workflow can only have platform or organization scope")
    validate_spec(workflow.spec)


def validate_spec(spec: spec_pb2.WorkflowSpec) -> None:
    _text(spec.description, "spec.description", limit=4096)
    _require(spec.HasField("document"), "spec.document is required")
    document = spec.document
    _require(document.dsl in ("", DSL_VERSION), f"spec.document.dsl must be {DSL_VERSION!r}")
    for name in ("namespace", "name", "version"):
        _text(getattr(document, name), f"spec.document.{name}", required=True, limit=MAX_NAME)
    _text(document.description, "spec.document.description", limit=4096)
    _require(len(spec.tasks) >= 1, "spec.tasks needs at least one task")
    _keys(spec.env_spec.data, "spec.env_spec.data")
    counter = [0]
    _task_list(spec.tasks, "spec.tasks", depth=0, counter=counter)


def _task_list(tasks: TaskList, field: str, *, depth: int, counter: list[int]) -> None:
    _require(depth <= MAX_DEPTH, f"{field} nests tasks deeper than {MAX_DEPTH} levels")
    names: set[str] = set()
    for i, task in enumerate(tasks):
        counter[0] += 1
        _require(counter[0] <= MAX_TASKS, f"a workflow may hold at most {MAX_TASKS} tasks")
        where = f"{field}[{i}]"
        _text(task.name, f"{where}.name", required=True, limit=MAX_NAME)
        _require(task.name not in FLOW_DIRECTIVES, f"{where}.name {task.name!r} is a flow directive")
        _require(task.name not in names, f"{field} has two tasks named {task.name!r}")
        names.add(task.name)
    for i, task in enumerate(tasks):
        where = f"{field}[{i}] ({task.name})"
        if task.HasField("flow") and task.flow.then:
            _target(task.flow.then, names, f"{where}.flow.then")
        if task.HasField("export"):
            _text(getattr(task.export, "as"), f"{where}.export.as", required=True, limit=MAX_TEXT)
        config = task_config(task, where)
        _CONFIG_RULES.get(task.kind, _no_rules)(config, where, names, depth, counter)


def _target(then: str, siblings: Collection[str], field: str) -> None:
    _require(then in siblings or then in FLOW_DIRECTIVES,
             f"{field} names {then!r}, which is neither a task at this level nor one of "
             f"{', '.join(sorted(FLOW_DIRECTIVES))}")


def task_config(task: spec_pb2.WorkflowTask, where: str = "task") -> Message:
    """The task's config as its kind's message, decoded strictly (unknown fields refused)."""
    _require(task.kind != Kind.WORKFLOW_TASK_KIND_UNSPECIFIED, f"{where}.kind is required")
    config_type = CONFIG_TYPES.get(task.kind)
    _require(config_type is not None, f"{where}.kind {task.kind} is not a known task kind")
    assert config_type is not None
    _require(task.HasField("task_config"), f"{where}.task_config is required")
    data = json_format.MessageToDict(task.task_config)
    try:
        return json_format.ParseDict(data, config_type(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        kind = Kind.Name(task.kind).removeprefix("WORKFLOW_TASK_KIND_")
        raise InvalidArgument(f"{where}.task_config is not a valid {kind} config: {exc}") from None


# Per-kind rules on the decoded config: (config, where, sibling names, depth, counter).
Rule = Callable[[Any, str, Collection[str], int, list[int]], None]


def _no_rules(config: Any, where: str, siblings: Collection[str], depth: int, counter: list[int]) -> None:
    return None


def _set(config: set_pb2.SetTaskConfig, where: str, siblings: Collection[str], depth: int, counter: list[int]) -> None:
    _require(len(config.variables) > 0, f"{where}.task_config.variables is required")


def _http(config: http_call_pb2.HttpCallTaskConfig, where: str, siblings: Collection[str], depth: int,
          counter: list[int]) -> None:
    _one_of(config.method, HTTP_METHODS, f"{where}.task_config.method")
    _require(config.HasField("endpoint"), f"{where}.task_config.endpoint is required")
    _text(config.endpoint.uri, f"{where}.task_config.endpoint.uri", required=True, limit=4096)
    _require(config.timeout_seconds == 0 or 1 <= config.timeout_seconds <= 300,
             f"{where}.task_config.timeout_seconds must be 1 to 300")


def _grpc(config: grpc_call_pb2.GrpcCallTaskConfig, where: str, siblings: Collection[str], depth: int,
          counter: list[int]) -> None:
    _text(config.service, f"{where}.task_config.service", required=True)
    _text(config.method, f"{where}.task_config.method", required=True)


def _activity(config: call_activity_pb2.CallActivityTaskConfig, where: str, siblings: Collection[str],
              depth: int, counter: list[int]) -> None:
    _text(config.activity, f"{where}.task_config.activity", required=True)


def _switch(config: switch_pb2.SwitchTaskConfig, where: str, siblings: Collection[str], depth: int,
            counter: list[int]) -> None:
    _require(len(config.cases) >= 1, f"{where}.task_config.cases needs at least one case")
    for j, case in enumerate(config.cases):
        _text(case.name, f"{where}.task_config.cases[{j}].name", required=True)
        _text(case.then, f"{where}.task_config.cases[{j}].then", required=True)
        _target(case.then, siblings, f"{where}.task_config.cases[{j}].then")


def _for(config: for_pb2.ForTaskConfig, where: str, siblings: Collection[str], depth: int, counter: list[int]) -> None:
    _text(config.each, f"{where}.task_config.each", required=True)
    _text(getattr(config, "in"), f"{where}.task_config.in", required=True)
    _nested(config.do, f"{where}.task_config.do", depth, counter)


def _fork(config: fork_pb2.ForkTaskConfig, where: str, siblings: Collection[str], depth: int,
          counter: list[int]) -> None:
    _require(len(config.branches) >= 2, f"{where}.task_config.branches needs at least two branches")
    for j, branch in enumerate(config.branches):
        _text(branch.name, f"{where}.task_config.branches[{j}].name", required=True)
        _nested(branch.do, f"{where}.task_config.branches[{j}].do", depth, counter)


def _try(config: try_pb2.TryTaskConfig, where: str, siblings: Collection[str], depth: int, counter: list[int]) -> None:
    _nested(getattr(config, "try"), f"{where}.task_config.try", depth, counter)
    if config.HasField("catch"):
        _nested(config.catch.do, f"{where}.task_config.catch.do", depth, counter)


def _listen(config: listen_pb2.ListenTaskConfig, where: str, siblings: Collection[str], depth: int,
            counter: list[int]) -> None:
    _require(config.HasField("to"), f"{where}.task_config.to is required")
    _one_of(config.to.mode, LISTEN_MODES, f"{where}.task_config.to.mode")
    _require(len(config.to.signals) >= 1, f"{where}.task_config.to.signals needs at least one signal")
    for j, signal in enumerate(config.to.signals):
        _text(signal.id, f"{where}.task_config.to.signals[{j}].id", required=True)
        _one_of(signal.type, SIGNAL_TYPES, f"{where}.task_config.to.signals[{j}].type")


def _wait(config: wait_pb2.WaitTaskConfig, where: str, siblings: Collection[str], depth: int, counter: list[int]) -> None:
    _require(config.seconds >= 1, f"{where}.task_config.seconds must be at least 1")


def _raise(config: raise_pb2.RaiseTaskConfig, where: str, siblings: Collection[str], depth: int,
           counter: list[int]) -> None:
    _text(config.error, f"{where}.task_config.error", required=True)
    _text(config.message, f"{where}.task_config.message", required=True)


def _run(config: run_pb2.RunTaskConfig, where: str, siblings: Collection[str], depth: int, counter: list[int]) -> None:
    _text(config.workflow, f"{where}.task_config.workflow", required=True)


def _agent_call(config: agent_call_pb2.AgentCallTaskConfig, where: str, siblings: Collection[str], depth: int,
                counter: list[int]) -> None:
    _text(config.agent, f"{where}.task_config.agent", required=True, limit=63)
    _text(config.message, f"{where}.task_config.message", required=True)
    _require(config.scope in resource_enum_pb2.ApiResourceOwnerScope.values(),
             f"{where}.task_config.scope {config.scope} is not defined")
    _keys(config.env, f"{where}.task_config.env")
    if config.HasField("config"):
        _require(config.config.timeout == 0 or 1 <= config.config.timeout <= 3600,
                 f"{where}.task_config.config.timeout must be 1 to 3600 seconds")
        _require(0.0 <= config.config.temperature <= 1.0,
                 f"{where}.task_config.config.temperature must be 0 to 1")


def _nested(tasks: TaskList, field: str, depth: int, counter: list[int]) -> None:
    _require(len(tasks) >= 1, f"{field} needs at least one task")
    _task_list(tasks, field, depth=depth + 1, counter=counter)


_CONFIG_RULES: dict[int, Rule] = {
    Kind.WORKFLOW_TASK_KIND_SET: _set,
    Kind.WORKFLOW_TASK_KIND_HTTP_CALL: _http,
    Kind.WORKFLOW_TASK_KIND_GRPC_CALL: _grpc,
    Kind.WORKFLOW_TASK_KIND_CALL_ACTIVITY: _activity,
    Kind.WORKFLOW_TASK_KIND_SWITCH: _switch,
    Kind.WORKFLOW_TASK_KIND_FOR: _for,
    Kind.WORKFLOW_TASK_KIND_FORK: _fork,
    Kind.WORKFLOW_TASK_KIND_TRY: _try,
    Kind.WORKFLOW_TASK_KIND_LISTEN: _listen,
    Kind.WORKFLOW_TASK_KIND_WAIT: _wait,
    Kind.WORKFLOW_TASK_KIND_RAISE: _raise,
    Kind.WORKFLOW_TASK_KIND_RUN: _run,
    Kind.WORKFLOW_TASK_KIND_AGENT_CALL: _agent_call,
}


# -- workflow instances -----------------------------------------------------------------


def validate_instance(instance: instance_pb2.WorkflowInstance) -> None:
    _header(instance, INSTANCE_KIND)
    _text(instance.spec.workflow_id, "spec.workflow_id", required=True, limit=128)
    _text(instance.spec.description, "spec.description", limit=4096)
    _require(len(instance.spec.env_refs) <= MAX_NAME, f"spec.env_refs has more than {MAX_NAME} entries")
    for i, ref in enumerate(instance.spec.env_refs):
        _require(ref.kind in (kind_pb2.api_resource_kind_unknown, kind_pb2.environment),
                 f"spec.env_refs[{i}] must reference an environment")
        _text(ref.slug, f"spec.env_refs[{i}].slug", required=True, limit=MAX_NAME)


def check_instance_scope(instance: instance_pb2.WorkflowInstance, workflow: workflow_pb2.Workflow) -> None:
    """An organization's instance of an organization's workflow lives in the same org."""
    organization = resource_enum_pb2.organization
    if instance.metadata.owner_scope == organization and workflow.metadata.owner_scope == organization:
        _require(instance.metadata.org == workflow.metadata.org,
                 f"workflow instance in org {instance.metadata.org!r} cannot use workflow "
                 f"{workflow.metadata.id!r} of org {workflow.metadata.org!r}")


def default_instance_of(workflow: workflow_pb2.Workflow) -> instance_pb2.WorkflowInstance:
    """The instance create makes for a workflow: `<name>-default`, same scope and org."""
    instance = instance_pb2.WorkflowInstance(api_version=API_VERSION, kind=INSTANCE_KIND)
    instance.metadata.name = f"{workflow.metadata.slug or slugify(workflow.metadata.name)}-default"
    instance.metadata.owner_scope = workflow.metadata.owner_scope
    if workflow.metadata.owner_scope == resource_enum_pb2.organization:
        instance.metadata.org = workflow.metadata.org
    instance.spec.workflow_id = workflow.metadata.id
    instance.spec.description = "Default instance (auto-created, no custom configuration)"
    return instance


def reference_kind_ok(ref: resource_io_pb2.ApiResourceReference, kind: int) -> None:
    _require(ref.kind in (kind_pb2.api_resource_kind_unknown, kind),
             f"reference kind must be {kind_pb2.ApiResourceKind.Name(kind)}")
    _require(bool(ref.slug), "reference slug is required")
