"""The workflow worker: runs the invoke workflows, validation and the service-side activities."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from application.executions import ExecutionService
from application.reconciler import Reconciler
from application.workflow_execution_reconciler import WorkflowExecutionReconciler
from application.workflow_executions import WorkflowExecutionService
from application.workflows import WorkflowService
from infra.settings import Settings
from infra.temporal import run_worker_until
from workflows.activities import ServiceActivities
from workflows.workflow import InvokeAgentExecutionWorkflow
from workflows.workflow_execution import InvokeWorkflowExecutionWorkflow, WorkflowExecutionActivities
from workflows.workflow_validation import ValidateWorkflowWorkflow, ValidationActivities

log = logging.getLogger(__name__)


async def work(
    service: ExecutionService,
    workflows: WorkflowService,
    workflow_executions: WorkflowExecutionService,
    client: Client,
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Poll the workflow task queues until `stop` is set (or forever), over services the
    caller opened: the worker process's own, or serve's (SERVE_RUNS_WORKER)."""
    activities = ServiceActivities(service, client)
    reconciler = Reconciler(service, client, grace_seconds=settings.reconcile_grace_seconds)
    reconciling = asyncio.create_task(
        reconciler.run_forever(settings.reconcile_interval_seconds), name="reconciler"
    )
    workflow_reconciler = WorkflowExecutionReconciler(
        workflow_executions, client, grace_seconds=settings.reconcile_grace_seconds
    )
    reconciling_workflows = asyncio.create_task(
        workflow_reconciler.run_forever(settings.reconcile_interval_seconds), name="workflow-reconciler"
    )
    worker = Worker(
        client,
        task_queue=settings.workflow_task_queue,
        workflows=[InvokeAgentExecutionWorkflow],
        activities=[activities.update_execution_status, activities.complete_external_activity],
    )
    log.info("worker polling task queue %r", settings.workflow_task_queue)
    try:
        await asyncio.gather(run_worker_until(worker, stop), *(
            run_worker_until(w, stop)
            for w in workflow_domain_workers(workflows, workflow_executions, client, settings)
        ))
    finally:
        reconciling.cancel()
        reconciling_workflows.cancel()


def workflow_domain_workers(
    workflows: WorkflowService, workflow_executions: WorkflowExecutionService, client: Client, settings: Settings
) -> list[Worker]:
    """The workflow domain's workers: executions' invoke workflow, and validation."""
    execution_activities = WorkflowExecutionActivities(workflow_executions, client)
    validation_activities = ValidationActivities(workflows)
    return [
        Worker(
            client,
            task_queue=settings.workflow_execution_task_queue,
            workflows=[InvokeWorkflowExecutionWorkflow],
            activities=[execution_activities.update_status, execution_activities.complete_callback],
        ),
        Worker(
            client,
            task_queue=settings.workflow_validation_task_queue,
            workflows=[ValidateWorkflowWorkflow],
            activities=[validation_activities.record],
        ),
    ]
