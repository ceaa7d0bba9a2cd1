"""Stigmer's `ValidateWorkflow`: the workflow runner's `validateWorkflow` on a spec.

Stigmer's contract (domain/workflow_runner_contract.py): input the WorkflowSpec, result the
ServerlessWorkflowValidation; the activity runs on the memo queue `activityTaskQueue`
with 30 s per attempt and 3 attempts. Ours in addition (a memo key of our own): when the
memo names the stored workflow, the result is recorded in its status, so a validation
that finishes after the server stopped waiting still lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from ai.stigmer.agentic.workflow.v1 import spec_pb2
    from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
    from application.workflows import WorkflowService
    from domain.workflow_runner_contract import (
        DEFAULT_VALIDATION_RUNNER_TASK_QUEUE,
        MEMO_RUNNER_TASK_QUEUE,
        MEMO_VALIDATION_TARGET,
        VALIDATE_ACTIVITY,
        VALIDATION_WORKFLOW_TYPE,
    )

RECORD_VALIDATION = "stigmer-service/record-workflow-validation"


@dataclass
class ValidationTarget:
    """The memo's `stigmerServiceValidationTarget`: which stored spec is validated."""

    workflow_id: str
    spec_digest: str


class ValidationActivities:
    def __init__(self, workflows: WorkflowService) -> None:
        self._workflows = workflows

    @activity.defn(name=RECORD_VALIDATION)
    async def record(self, target: ValidationTarget, validation: validation_pb2.ServerlessWorkflowValidation) -> bool:
        """Store the result while the workflow still has the spec that was validated."""
        return await self._workflows.record_validation(target.workflow_id, target.spec_digest, validation)


@workflow.defn(name=VALIDATION_WORKFLOW_TYPE, sandboxed=False)
class ValidateWorkflowWorkflow:
    @workflow.run
    async def run(self, spec: spec_pb2.WorkflowSpec) -> validation_pb2.ServerlessWorkflowValidation:
        runner_queue = workflow.memo_value(MEMO_RUNNER_TASK_QUEUE, DEFAULT_VALIDATION_RUNNER_TASK_QUEUE, type_hint=str)
        result = await workflow.execute_activity(
            VALIDATE_ACTIVITY,
            spec,
            result_type=validation_pb2.ServerlessWorkflowValidation,
            task_queue=runner_queue,
            # Stigmer's: a validation is quick; three tries ride out a runner restart.
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
        )
        validation = validation_pb2.ServerlessWorkflowValidation()
        validation.CopyFrom(result)
        if not validation.validation_workflow_id:
            validation.validation_workflow_id = workflow.info().workflow_id
        if not validation.HasField("validated_at"):
            validation.validated_at.FromDatetime(workflow.now())
        target = workflow.memo_value(MEMO_VALIDATION_TARGET, ValidationTarget("", ""), type_hint=ValidationTarget)
        if target.workflow_id:
            await workflow.execute_local_activity_method(
                ValidationActivities.record,
                args=[target, validation],
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        return validation
