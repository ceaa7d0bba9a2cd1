"""The workflow-runner process: Temporal workers for Stigmer's runner queues (execution,
validation) and for the documents themselves, talking to the server only over gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from infra.temporal import connect_temporal
from wfrunner.activities import DocumentActivities
from wfrunner.document import ServerlessWorkflow
from wfrunner.hosts import HostPolicy, http_client
from wfrunner.runner_activities import RunnerActivities
from wfrunner.service_client import GrpcStatusSender, ServiceClient, StatusSender
from wfrunner.settings import WorkflowRunnerSettings

log = logging.getLogger(__name__)


def build_workers(client: Client, settings: WorkflowRunnerSettings, service: ServiceClient,
                  sender: StatusSender, http: httpx.AsyncClient, hosts: HostPolicy) -> list[Worker]:
    """The three workers of one runner, over one Temporal client and one gRPC channel;
    `http` is `wfrunner.hosts.http_client(hosts)`."""
    runner = RunnerActivities(client, service, sender, settings)
    document = DocumentActivities(sender, service, http, hosts)
    # Cancellation reaches an activity with a heartbeat reply: keep that prompt.
    prompt = {
        "max_heartbeat_throttle_interval": timedelta(seconds=1),
        "default_heartbeat_throttle_interval": timedelta(seconds=1),
        "graceful_shutdown_timeout": timedelta(seconds=5),
    }
    return [
        Worker(client, task_queue=settings.workflow_execution_runner_task_queue,
               activities=[runner.execute_workflow], **prompt),  # type: ignore[arg-type]
        Worker(client, task_queue=settings.workflow_validation_runner_task_queue,
               activities=[runner.validate_workflow]),
        Worker(client, task_queue=settings.workflow_document_task_queue,
               workflows=[ServerlessWorkflow],
               activities=[document.report_tasks, document.report_result, document.http_call, document.grpc_call,
                           document.agent_call, document.resolve_workflow], **prompt),  # type: ignore[arg-type]
    ]


async def run_workflow_runner(settings: WorkflowRunnerSettings, *, stop: asyncio.Event | None = None) -> None:
    client = await connect_temporal(settings)
    service = ServiceClient(settings.server_grpc_target, settings.runner_key())
    hosts = HostPolicy(settings.workflow_http_hosts)
    async with http_client(hosts) as http, contextlib.AsyncExitStack() as workers:
        for worker in build_workers(client, settings, service, GrpcStatusSender(service), http, hosts):
            await workers.enter_async_context(worker)
        log.info(
            "workflow runner polling %r, %r and %r",
            settings.workflow_execution_runner_task_queue,
            settings.workflow_validation_runner_task_queue,
            settings.workflow_document_task_queue,
        )
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            await service.close()
