"""The workflow worker: runs the invoke workflow and the service-side activities."""

from __future__ import annotations

import asyncio
import logging

from temporalio.worker import Worker

from core.context import ServerContext
from core.reconciler import Reconciler
from core.settings import Settings
from core.temporal import run_worker_until
from core.workflow_execution_reconciler import WorkflowExecutionReconciler
from workflows.activities import ServiceActivities
from workflows.workflow import InvokeAgentExecutionWorkflow
from workflows.workflow_execution import InvokeWorkflowExecutionWorkflow, WorkflowExecutionActivities
from workflows.workflow_validation import ValidateWorkflowWorkflow, ValidationActivities

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Poll the workflow task queue until `stop` is set (or forever)."""
    context = await ServerContext.open(settings, with_hub=False)
    try:
        await work(context, settings, stop=stop)
    finally:
        await context.close()


async def work(context: ServerContext, settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """The worker on an open context: its own, or serve's (SERVE_RUNS_WORKER)."""
    assert context.temporal is not None  # TEMPORAL_ADDRESS is required to get here
    client = context.temporal
    activities = ServiceActivities(context.service, client)
    reconciler = Reconciler(context.service, client, grace_seconds=settings.reconcile_grace_seconds)
    reconciling = asyncio.create_task(
        reconciler.run_forever(settings.reconcile_interval_seconds), name="reconciler"
    )
    workflow_reconciler = WorkflowExecutionReconciler(
        context.workflow_executions, client, grace_seconds=settings.reconcile_grace_seconds
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
            run_worker_until(w, stop) for w in workflow_domain_workers(context, settings)
        ))
    finally:
        reconciling.cancel()
        reconciling_workflows.cancel()


def workflow_domain_workers(context: ServerContext, settings: Settings) -> list[Worker]:
    """The workflow domain's workers: executions' invoke workflow, and validation."""
    assert context.temporal is not None
    execution_activities = WorkflowExecutionActivities(context.workflow_executions, context.temporal)
    validation_activities = ValidationActivities(context.workflows)
    return [
        Worker(
            context.temporal,
            task_queue=settings.workflow_execution_task_queue,
            workflows=[InvokeWorkflowExecutionWorkflow],
            activities=[execution_activities.update_status, execution_activities.complete_callback],
        ),
        Worker(
            context.temporal,
            task_queue=settings.workflow_validation_task_queue,
            workflows=[ValidateWorkflowWorkflow],
            activities=[validation_activities.record],
        ),
    ]
