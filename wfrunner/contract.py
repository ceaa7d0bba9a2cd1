"""The workflow runner's Temporal names, queues and the shapes that cross them.

Two contracts meet here:

* Stigmer's, with the server (the server's worker calls these on the runner's queues):
  `ExecuteWorkflow(WorkflowExecution) -> WorkflowExecutionStatus` on
  `workflow_execution_runner`, and `validateWorkflow(WorkflowSpec) ->
  ServerlessWorkflowValidation` (lower-case v) on `workflow_validation_runner`. Both carry
  protobuf JSON of exactly Stigmer's messages.
* Ours, inside the runner: the document runs as its own Temporal workflow,
  `ExecuteServerlessWorkflow` on `zigflow_execution` with id `workflow-exec-<execution id>`
  (Stigmer's runner uses the same names, so the Temporal UI reads the same). Its input is
  our `DocumentInput`, not Stigmer's YAML: nothing outside this runner starts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.workflow_runner_contract import EXECUTE_WORKFLOW_ACTIVITY, VALIDATE_ACTIVITY

# -- Stigmer's contract with the server (one place: domain/workflow_runner_contract.py) ------

EXECUTE_WORKFLOW = EXECUTE_WORKFLOW_ACTIVITY
VALIDATE_WORKFLOW = VALIDATE_ACTIVITY

# -- the document workflow (the runner's own) --------------------------------------------

DOCUMENT_WORKFLOW = "ExecuteServerlessWorkflow"
DEFAULT_DOCUMENT_TASK_QUEUE = "zigflow_execution"
DOCUMENT_WORKFLOW_ID_PREFIX = "workflow-exec-"

# Activities the document workflow calls on its own queue (run by the same worker).
REPORT_TASKS = "ReportWorkflowTasks"
REPORT_RESULT = "ReportWorkflowResult"
HTTP_CALL = "WorkflowHttpCall"
GRPC_CALL = "WorkflowGrpcCall"
AGENT_CALL = "WorkflowAgentCall"
RESOLVE_WORKFLOW = "ResolveWorkflowDocument"

# The error type of a task's failure as it leaves an activity or the document workflow:
# its details carry the Serverless Workflow error object ({type, status, title, detail,
# instance}).
TASK_ERROR_TYPE = "WorkflowTaskError"


def document_workflow_id(execution_id: str) -> str:
    """One document workflow per execution: a retried `ExecuteWorkflow` finds it again."""
    return f"{DOCUMENT_WORKFLOW_ID_PREFIX}{execution_id}"


@dataclass
class DocumentInput:
    """What one run of a document needs; plain JSON, so it survives any worker version."""

    execution_id: str
    # WorkflowSpec.tasks as protobuf JSON (camelCase keys, `taskConfig` objects).
    tasks: list[dict[str, Any]]
    # The run's input: `.` and `$workflow.input` of the first task.
    input: Any = None
    # runtime_env values by name; `secret_names` says which are secrets (`$secrets`),
    # whose values never appear in a reported input or output.
    env: dict[str, str] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)
    org: str = ""
    document: dict[str, Any] = field(default_factory=dict)
    # Task ids of a child document (RUN) are its parent task's id plus its own path.
    task_id_prefix: str = ""
    # False: run without per-task status reports (a benchmark's baseline).
    report: bool = True


@dataclass
class DocumentResult:
    output: Any


@dataclass
class TaskReport:
    """One task's progress, sent as one `updateStatus` carrying that task."""

    execution_id: str
    task_id: str
    task_name: str
    kind: str  # WorkflowTaskKind name, e.g. WORKFLOW_TASK_KIND_SET
    status: str  # WorkflowTaskStatus name
    input: Any = None
    output: Any = None
    error: str = ""
    # RFC 3339 UTC, from the workflow's clock (deterministic).
    at: str = ""
    started_at: str = ""
    secret_names: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskReports:
    """Reports sent in order, one `updateStatus` each, by one activity call."""

    reports: list[TaskReport]


@dataclass
class RunResult:
    """How a document ended, sent by the document itself as the execution's final status."""

    execution_id: str
    phase: str  # ExecutionPhase name: EXECUTION_COMPLETED or EXECUTION_FAILED
    output: Any = None
    error: str = ""
    started_at: str = ""
    completed_at: str = ""


@dataclass
class HttpRequest:
    method: str
    uri: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout_seconds: float = 30.0
    reference: str = ""  # the task's reference, for the error's `instance`


@dataclass
class GrpcRequest:
    service: str  # `host:port/package.Service` or `package.Service` with `target`
    method: str
    request: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    timeout_seconds: float = 30.0
    reference: str = ""


@dataclass
class AgentCallRequest:
    agent: str  # slug
    scope: str  # ApiResourceOwnerScope name
    message: str
    org: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # env names whose value holds a secret of the run: secrets of the agent execution too.
    secret_env: list[str] = field(default_factory=list)
    model: str = ""
    reference: str = ""
    workflow_execution_id: str = ""


@dataclass
class ResolveWorkflowRequest:
    workflow: str  # an id, or a slug looked up in `org`
    org: str = ""


@dataclass
class ResolvedWorkflow:
    workflow_id: str
    tasks: list[dict[str, Any]]
    document: dict[str, Any] = field(default_factory=dict)
