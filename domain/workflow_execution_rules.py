"""Pure rules of a workflow execution: what a valid request is, and how a runner's status
update merges into the stored status (ARCHITECTURE.md, "Workflows").

Stigmer's workflow runner sends `updateStatus` with IN_PROGRESS, then once before and once
after each activity-backed task, each call carrying only that task, then the final phase.
Stigmer's server replaces `tasks` wholesale, so its stored list holds the latest task
only; here tasks merge by `task_id` (the task name when a runner sends no id), so the
stored status is the whole run:

* a task already stored takes the update's set fields (its Structs replace whole); a new
  task is appended; stored tasks the update does not mention stay;
* `phase`, `error`, `started_at`, `completed_at`, `temporal_workflow_id` overwrite when
  set, `output` replaces when present; empty fields leave the stored value alone;
* times are stamped when a runner leaves them out: a task or the execution that starts
  gets `started_at`, one that ends gets `completed_at`;
* a terminal phase is final and an ordered update is never applied twice
  (`domain.status_rules.decide`, shared with agent executions: the phase numbers and names are
  the same in both packages).

Nothing here reads storage or clocks: the caller passes `now`.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import json_format

from ai.stigmer.agentic.workflowexecution.v1 import api_pb2, enum_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2
from domain.convert import API_VERSION
from domain.errors import InvalidArgument
from domain.status_rules import Decision, StoredState, decide, is_terminal
from domain.workflow_contract import stigmer_fields_only

KIND = "WorkflowExecution"
PHASE_NAMES = {v: k for k, v in enum_pb2.ExecutionPhase.items()}
TASK_ENDED = frozenset(
    {enum_pb2.WORKFLOW_TASK_COMPLETED, enum_pb2.WORKFLOW_TASK_FAILED, enum_pb2.WORKFLOW_TASK_SKIPPED}
)
MAX_MESSAGE_CHARS = 100_000
MAX_ENTRIES = 100
MAX_TASKS = 10_000
_SCALARS = ("task_name", "task_type", "status", "started_at", "completed_at", "error")
_STRUCTS = ("input", "output", "metadata")


def phase_name(phase: int) -> str:
    return PHASE_NAMES.get(phase, "EXECUTION_PHASE_UNSPECIFIED")


def phase_from_name(name: str) -> int:
    """`COMPLETED`, `completed` and `EXECUTION_COMPLETED` all name one phase."""
    upper = name.strip().upper()
    if upper and not upper.startswith("EXECUTION_"):
        upper = "EXECUTION_" + upper
    try:
        return enum_pb2.ExecutionPhase.Value(upper)
    except ValueError:
        raise InvalidArgument(f"unknown phase {name!r}; one of {sorted(PHASE_NAMES.values())}") from None


def _keys(mapping: Iterable[str], field: str) -> None:
    keys = list(mapping)
    if len(keys) > MAX_ENTRIES:
        raise InvalidArgument(f"{field} has more than {MAX_ENTRIES} entries")
    for key in keys:
        if not key or len(key) > 128 or key.startswith("$") or "." in key or "\0" in key:
            raise InvalidArgument(f"{field} has an invalid key {key!r}")


def validate_new_execution(execution: api_pb2.WorkflowExecution) -> None:
    if execution.api_version and execution.api_version != API_VERSION:
        raise InvalidArgument(f"api_version must be {API_VERSION!r}")
    if execution.kind and execution.kind != KIND:
        raise InvalidArgument(f"kind must be {KIND!r}")
    spec = execution.spec
    if not (spec.workflow_instance_id or spec.workflow_id):
        raise InvalidArgument("either workflow_id or workflow_instance_id must be provided")
    if len(spec.trigger_message) > MAX_MESSAGE_CHARS:
        raise InvalidArgument(f"spec.trigger_message is longer than {MAX_MESSAGE_CHARS} characters")
    _keys(spec.trigger_metadata, "spec.trigger_metadata")
    _keys(spec.runtime_env, "spec.runtime_env")
    if len(execution.metadata.name) > 100:
        raise InvalidArgument("metadata.name is longer than 100 characters")
    if execution.metadata.owner_scope not in resource_enum_pb2.ApiResourceOwnerScope.values():
        raise InvalidArgument(f"metadata.owner_scope {execution.metadata.owner_scope} is not defined")


def validate_status_update(
    execution_id: str, status: api_pb2.WorkflowExecutionStatus | None
) -> api_pb2.WorkflowExecutionStatus:
    if not execution_id:
        raise InvalidArgument("execution_id is required")
    if status is None:
        raise InvalidArgument("status is required")
    if status.phase not in enum_pb2.ExecutionPhase.values():
        raise InvalidArgument(f"status.phase {status.phase} is not defined")
    if len(status.tasks) > MAX_TASKS:
        raise InvalidArgument(f"status.tasks has more than {MAX_TASKS} entries")
    for i, task in enumerate(status.tasks):
        if task.task_type not in enum_pb2.WorkflowTaskType.values():
            raise InvalidArgument(f"status.tasks[{i}].task_type {task.task_type} is not defined")
        if task.status not in enum_pb2.WorkflowTaskStatus.values():
            raise InvalidArgument(f"status.tasks[{i}].status {task.status} is not defined")
        if not (task.task_id or task.task_name):
            raise InvalidArgument(f"status.tasks[{i}] needs a task_id (or a task_name)")
    return status


def decide_update(stored_phase: int, stored_sequence: int, update: api_pb2.WorkflowExecutionStatus,
                  sequence: int) -> Decision:
    """Whether an update may change the stored status (terminal is final; ordering)."""
    update_phase = phase_name(update.phase) if update.phase else None
    return decide(StoredState(phase_name(stored_phase), stored_sequence), update_phase, sequence)


def task_key(task: api_pb2.WorkflowTask) -> str:
    return task.task_id or f"name:{task.task_name}"


def merge_task(stored: api_pb2.WorkflowTask | None, update: api_pb2.WorkflowTask, now: str) -> api_pb2.WorkflowTask:
    merged = api_pb2.WorkflowTask()
    if stored is not None:
        merged.CopyFrom(stored)
    merged.task_id = update.task_id or merged.task_id
    for name in _SCALARS:
        value = getattr(update, name)
        if value:
            setattr(merged, name, value)
    for name in _STRUCTS:
        if update.HasField(name):
            getattr(merged, name).CopyFrom(getattr(update, name))
    if merged.status == enum_pb2.WORKFLOW_TASK_IN_PROGRESS and not merged.started_at:
        merged.started_at = now
    if merged.status in TASK_ENDED and not merged.completed_at:
        merged.completed_at = now
    return merged


def merge_status(
    stored: api_pb2.WorkflowExecutionStatus, update: api_pb2.WorkflowExecutionStatus, now: str
) -> api_pb2.WorkflowExecutionStatus:
    """The stored status after `update` (see the module docstring); `stored` is unchanged."""
    merged = api_pb2.WorkflowExecutionStatus()
    merged.CopyFrom(stored)
    merged.ClearField("version")
    for name in ("phase", "error", "started_at", "completed_at", "temporal_workflow_id"):
        value = getattr(update, name)
        if value:
            setattr(merged, name, value)
    if update.HasField("output"):
        merged.output.CopyFrom(update.output)
    if update.tasks:
        position = {task_key(task): i for i, task in enumerate(merged.tasks)}
        for task in update.tasks:
            i = position.get(task_key(task))
            if i is None:
                position[task_key(task)] = len(merged.tasks)
                merged.tasks.append(merge_task(None, task, now))
            else:
                merged.tasks[i].CopyFrom(merge_task(merged.tasks[i], task, now))
    if merged.phase == enum_pb2.EXECUTION_IN_PROGRESS and not merged.started_at:
        merged.started_at = now
    if is_terminal(merged.phase) and not merged.completed_at:
        merged.completed_at = now
    return merged


def execution_for_runner(execution: api_pb2.WorkflowExecution) -> api_pb2.WorkflowExecution:
    """The execution as a workflow runner receives it (Temporal input, activity argument):
    Stigmer's fields only, since its runner decodes payloads strictly."""
    return stigmer_fields_only(execution)


def status_json(status: api_pb2.WorkflowExecutionStatus) -> dict[str, object]:
    body = json_format.MessageToDict(status, preserving_proto_field_name=True)
    body.pop("version", None)
    return body
