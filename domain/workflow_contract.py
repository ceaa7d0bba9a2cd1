"""The workflow ↔ runner contract: Stigmer's Temporal names, queues and signatures.

Both sides import this module, so a name lives once. It matches Stigmer's own backend,
so a Stigmer runner and ours are interchangeable on the runner queue, and Stigmer's
server could start our workflow (ARCHITECTURE.md, "Temporal contract").

Payloads use the SDK's default converter: protobuf messages travel as protobuf JSON,
which is what Stigmer's Go and Python workers produce and expect. Their converters refuse
fields they do not know, so every message that crosses Temporal carries Stigmer's fields
only (`stigmer_fields_only`); our additions stay on gRPC replies, where binary protobuf
keeps unknown fields harmless, and under memo keys of our own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

# Fields numbered from here up are ours (additions to Stigmer's messages get new numbers
# in this range, e.g. `version = 100`); everything below is Stigmer's contract.
FIRST_ADDED_FIELD_NUMBER = 100


def stigmer_fields_only(message: M) -> M:
    """A copy of `message` without our added fields, at any depth: what Stigmer's code may
    decode as protobuf JSON (workflow input, activity arguments and results, callbacks)."""
    copy = type(message)()
    copy.CopyFrom(message)
    _clear_additions(copy)
    return copy


def _clear_additions(message: Message) -> None:
    for field, value in message.ListFields():
        if field.number >= FIRST_ADDED_FIELD_NUMBER:
            message.ClearField(field.name)
            continue
        kind = field.message_type
        if kind is None or kind.full_name.startswith("google.protobuf."):
            continue
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].message_type is not None:
                for item in value.values():
                    _clear_additions(item)
        elif field.is_repeated:
            for item in value:
                _clear_additions(item)
        else:
            _clear_additions(value)

# -- the workflow -----------------------------------------------------------------------

# Input: the AgentExecution message. Result: none (the execution document is the result).
WORKFLOW_TYPE = "stigmer/agent-execution/invoke"
DEFAULT_WORKFLOW_TASK_QUEUE = "agent_execution_stigmer"
DEFAULT_RUNNER_TASK_QUEUE = "agent_execution_runner"

# Memo keys the starter sets. The runner queue is Stigmer's; the timeouts are ours (an
# addition: a workflow started without them uses the defaults below).
MEMO_RUNNER_TASK_QUEUE = "activityTaskQueue"
MEMO_TIMEOUTS = "stigmerServiceTimeouts"


def workflow_id_for(execution_id: str) -> str:
    """Deriving the id from the execution makes starting idempotent."""
    return f"{WORKFLOW_TYPE}/{execution_id}"


@dataclass
class WorkflowTimeouts:
    """Chosen by the server from settings, fixed for the workflow's life."""

    # How long an execution may wait for a free runner before it fails.
    runner_pickup_seconds: float = 120.0
    # The longest an agent may run.
    execution_seconds: float = 3600.0
    # A runner that has not heartbeated for this long is taken for dead. Stigmer's own
    # workflow allows 30 s, and its runner heartbeats per stream event, not on a timer:
    # a model silent for longer before its first token would look dead.
    heartbeat_seconds: float = 30.0


# -- runner activities (runner task queue, positional arguments) -------------------------

# EnsureThread(session_id: str, agent_id: str) -> str   (the conversation thread id)
ENSURE_THREAD = "EnsureThread"
# ExecuteGraphton(execution: AgentExecution, thread_id: str) -> AgentExecutionStatus
# Runs the agent, streaming progressive status over gRPC; returns the final status.
EXECUTE_GRAPHTON = "ExecuteGraphton"
# A non-retryable failure type the runner raises for an agent's own error.
AGENT_ERROR_TYPE = "AgentError"

# -- service-side activities (workflow task queue, run by our worker) --------------------

# UpdateExecutionStatus(execution_id: str, status: AgentExecutionStatus) -> RecordedPhase
# (Stigmer's returns nothing; ours says what is stored, which callers may ignore.)
UPDATE_EXECUTION_STATUS = "UpdateExecutionStatus"
# Completes the caller's waiting activity named by spec.callback_token.
COMPLETE_EXTERNAL_ACTIVITY = "stigmer/system/complete-external-activity"


@dataclass
class RecordedPhase:
    """The phase (and error) stored once a status write is done: what the execution ended
    in, even when another write (the runner's own) landed first."""

    phase: int = 0  # ExecutionPhase
    error: str = ""


@dataclass
class CompleteExternalActivityInput:
    callback_token: str  # base64 of the external activity's task token
    execution_id: str  # completed with the stored AgentExecution on success
    error: str = ""  # non-empty: fail the waiting activity with this message
