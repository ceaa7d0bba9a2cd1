"""Starting the workflow domain's Temporal workflows (used by the use cases): a workflow
execution's invoke workflow, and a spec's validation."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from ai.stigmer.agentic.workflow.v1 import spec_pb2
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2
from domain.workflow_contract import WorkflowTimeouts
from domain.workflow_execution_rules import execution_for_runner
from domain.workflow_runner_contract import (
    EXECUTION_WORKFLOW_TYPE,
    MEMO_RUNNER_TASK_QUEUE,
    MEMO_VALIDATION_TARGET,
    VALIDATION_WORKFLOW_ID_PREFIX,
    VALIDATION_WORKFLOW_TYPE,
    execution_workflow_id,
)
from infra.settings import Settings
from workflows.starter import ExecutionControl, InvokeWorkflow

log = logging.getLogger(__name__)
Validation = validation_pb2.ServerlessWorkflowValidation


class TemporalWorkflowExecutionControl(ExecutionControl[api_pb2.WorkflowExecution]):
    """A workflow execution's invoke workflow."""

    def __init__(self, client: Client, settings: Settings) -> None:
        timeouts = WorkflowTimeouts(
            runner_pickup_seconds=settings.runner_pickup_timeout_seconds,
            execution_seconds=settings.workflow_execution_timeout_seconds,
        )
        super().__init__(client, InvokeWorkflow(
            EXECUTION_WORKFLOW_TYPE, execution_workflow_id, execution_for_runner,
            settings.workflow_execution_task_queue, settings.workflow_execution_runner_task_queue, timeouts,
        ))


class TemporalWorkflowValidator:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def validate(self, workflow_id: str, spec: spec_pb2.WorkflowSpec, spec_digest: str) -> Validation:
        """Run `ValidateWorkflow` and wait for it up to WORKFLOW_VALIDATION_WAIT_SECONDS;
        past that (no runner answering) PENDING, and the workflow records its result
        later. A runner that keeps failing is FAILED, with its error."""
        settings = self._settings
        validation_id = f"{VALIDATION_WORKFLOW_ID_PREFIX}/{uuid.uuid4()}"
        try:
            handle = await self._client.start_workflow(
                VALIDATION_WORKFLOW_TYPE,
                spec,
                id=validation_id,
                task_queue=settings.workflow_validation_task_queue,
                execution_timeout=timedelta(seconds=settings.workflow_validation_timeout_seconds),
                memo={
                    MEMO_RUNNER_TASK_QUEUE: settings.workflow_validation_runner_task_queue,
                    MEMO_VALIDATION_TARGET: {"workflow_id": workflow_id, "spec_digest": spec_digest},
                },
                result_type=Validation,
            )
        except RPCError as exc:
            log.warning("could not start the validation of %s: %s", workflow_id, exc)
            return Validation(state=validation_pb2.PENDING)
        try:
            async with asyncio.timeout(settings.workflow_validation_wait_seconds):
                result = await handle.result()
        except TimeoutError:
            return Validation(state=validation_pb2.PENDING, validation_workflow_id=validation_id)
        except WorkflowFailureError as exc:
            cause = exc.cause
            reason = str(getattr(cause, "cause", None) or cause or exc)
            return Validation(
                state=validation_pb2.FAILED, errors=[f"validation did not complete: {reason}"[:1000]],
                validation_workflow_id=validation_id,
            )
        validation = Validation()
        validation.CopyFrom(result)
        if not validation.validation_workflow_id:
            validation.validation_workflow_id = validation_id
        return validation
