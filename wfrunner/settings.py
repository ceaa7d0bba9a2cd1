"""The workflow runner's settings: the shared ones (infra/settings.py, where Stigmer's
runner queues live too) and its own."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from infra.settings import Settings
from wfrunner.contract import DEFAULT_DOCUMENT_TASK_QUEUE


class WorkflowRunnerSettings(Settings):
    # Where the documents themselves run (one Temporal workflow per execution).
    workflow_document_task_queue: str = Field(
        default=DEFAULT_DOCUMENT_TASK_QUEUE,
        validation_alias=AliasChoices("TEMPORAL_ZIGFLOW_EXECUTION_TASK_QUEUE", "WORKFLOW_DOCUMENT_TASK_QUEUE"),
    )
    # Where CALL_ACTIVITY tasks' named activities are sent: a queue your own workers poll.
    workflow_call_activity_task_queue: str = "workflow_activities"
    # Hosts HTTP_CALL and GRPC_CALL tasks may reach (wfrunner/hosts.py): `*` = any public
    # host; loopback, link-local and private addresses need entries of their own.
    workflow_http_hosts: str = "*"
    # The longest one document may run (Stigmer's runner: 30 minutes).
    workflow_document_timeout_seconds: float = Field(default=1800.0, gt=0)
