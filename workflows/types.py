"""Inputs and outputs of the workflow and its activities: one dataclass each, so they
can grow without breaking callers (plain JSON-friendly fields; they cross Temporal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.types import AgentRunRequest

WORKFLOW_NAME = "InvokeAgentExecutionWorkflow"


def workflow_id_for(execution_id: str) -> str:
    return f"agent-execution/{execution_id}"


@dataclass
class WorkflowTimeouts:
    """Chosen by the server from settings, fixed for the workflow's life."""

    # How long an execution may wait for a free runner before it fails.
    runner_pickup_seconds: float = 120.0
    # The longest an agent may run.
    execution_seconds: float = 3600.0
    # A runner that has not heartbeated for this long is taken for dead.
    heartbeat_seconds: float = 15.0


@dataclass
class ExecutionWorkflowInput:
    run: AgentRunRequest  # its thread_id is the session's; EnsureThread confirms it
    runner_task_queue: str
    callback_token: str = ""  # base64 of the external activity's task token
    timeouts: WorkflowTimeouts = field(default_factory=WorkflowTimeouts)


@dataclass
class EnsureThreadInput:
    session_id: str
    thread_id: str


@dataclass
class ExecuteAgentInput:
    request: AgentRunRequest


@dataclass
class ExecuteAgentResult:
    status: dict[str, Any]  # AgentExecutionStatus in the proto JSON mapping


@dataclass
class UpdateExecutionStatusInput:
    """Durable status write, done by the workflow (not the runner)."""

    execution_id: str
    phase: str  # ExecutionPhase name
    error: str = ""
    status: dict[str, Any] | None = None  # the runner's final status, when there is one
    mark_started: bool = False
    mark_completed: bool = False


@dataclass
class CompleteExternalActivityInput:
    callback_token: str  # base64
    execution_id: str
    phase: str
    error: str = ""
    status: dict[str, Any] | None = None
