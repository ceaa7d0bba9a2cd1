"""The server ↔ workflow-runner contract: Stigmer's Temporal names, queues and signatures
for workflow validation and workflow executions.

Both our worker and any workflow runner (Stigmer's Go runner, or one of ours) follow it,
so they are interchangeable. Payloads are the SDK's protobuf JSON, which Stigmer's Go
workers decode strictly: what travels here carries exactly Stigmer's fields (our
additions stay in gRPC replies, or in memo keys of our own).
"""

from __future__ import annotations

# -- validation -------------------------------------------------------------------------

# ValidateWorkflow(WorkflowSpec) -> ServerlessWorkflowValidation, id `<prefix>/<uuid>`,
# hosted by our worker on the validation queue.
VALIDATION_WORKFLOW_TYPE = "ValidateWorkflow"
VALIDATION_WORKFLOW_ID_PREFIX = "stigmer/workflow-validation"
DEFAULT_VALIDATION_TASK_QUEUE = "workflow_validation_stigmer"
# validateWorkflow(WorkflowSpec) -> ServerlessWorkflowValidation (lower-case v), on the
# runner's validation queue named by the memo `activityTaskQueue`.
VALIDATE_ACTIVITY = "validateWorkflow"
DEFAULT_VALIDATION_RUNNER_TASK_QUEUE = "workflow_validation_runner"

# -- executions -------------------------------------------------------------------------

# Input: the WorkflowExecution message. Result: none (the document is the result).
EXECUTION_WORKFLOW_TYPE = "stigmer/workflow-execution/invoke"
DEFAULT_EXECUTION_TASK_QUEUE = "workflow_execution_stigmer"
# ExecuteWorkflow(WorkflowExecution) -> WorkflowExecutionStatus, on the runner queue named
# by the memo `activityTaskQueue`. The runner reports progress over gRPC `updateStatus`.
EXECUTE_WORKFLOW_ACTIVITY = "ExecuteWorkflow"
DEFAULT_EXECUTION_RUNNER_TASK_QUEUE = "workflow_execution_runner"
# UpdateWorkflowExecutionStatus(execution_id: str, status: WorkflowExecutionStatus) -> None,
# service-side (a local activity of our worker): the durable final status.
UPDATE_WORKFLOW_EXECUTION_STATUS = "UpdateWorkflowExecutionStatus"

# -- memo -------------------------------------------------------------------------------

MEMO_RUNNER_TASK_QUEUE = "activityTaskQueue"  # Stigmer's
# Ours: which stored workflow a validation is about, so a result that comes after the
# caller stopped waiting is still recorded (`{"workflow_id", "spec_digest"}`).
MEMO_VALIDATION_TARGET = "stigmerServiceValidationTarget"


def execution_workflow_id(execution_id: str) -> str:
    """Deriving the id from the execution makes starting idempotent."""
    return f"{EXECUTION_WORKFLOW_TYPE}/{execution_id}"
