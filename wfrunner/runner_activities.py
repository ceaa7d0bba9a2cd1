"""Stigmer's runner contract: `ExecuteWorkflow` and `validateWorkflow`.

`ExecuteWorkflow` reports IN_PROGRESS, resolves instance → workflow over gRPC, starts the
document workflow (or finds it again: a retried attempt after a runner crash attaches to
the same document, which resumes where it was), heartbeats while it runs, and returns
COMPLETED with the output or FAILED with the error. Cancelling the activity cancels the
document. The final status also goes over gRPC, sent by the document itself when it
ends, so a run whose `ExecuteWorkflow` attempt died with its runner still ends (the
server's invoke workflow makes one attempt); the server stores the returned one durably.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import json_format, timestamp_pb2
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import CancelledError, WorkflowAlreadyStartedError

from ai.stigmer.agentic.workflow.v1 import api_pb2 as workflow_pb2, spec_pb2
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as execution_pb2, enum_pb2
from ai.stigmer.agentic.workflowinstance.v1 import api_pb2 as workflow_instance_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2, io_pb2 as resource_io_pb2
from wfrunner.activities import as_struct
from wfrunner.contract import (
    DOCUMENT_WORKFLOW,
    EXECUTE_WORKFLOW,
    VALIDATE_WORKFLOW,
    DocumentInput,
    DocumentResult,
    document_workflow_id,
)
from wfrunner.document import MEMO_CALL_ACTIVITY_QUEUE
from wfrunner.service_client import ServiceClient, StatusSender
from wfrunner.settings import WorkflowRunnerSettings
from wfrunner.validation import document_text, validate_spec


class ExecutionFailed(Exception):
    """The run cannot start (its instance or workflow cannot be read); the message says why."""


class RunnerActivities:
    def __init__(self, temporal: Client, service: ServiceClient, sender: StatusSender,
                 settings: WorkflowRunnerSettings) -> None:
        self._temporal = temporal
        self._service = service
        self._sender = sender
        self._settings = settings

    @activity.defn(name=VALIDATE_WORKFLOW)
    async def validate_workflow(self, spec: spec_pb2.WorkflowSpec) -> validation_pb2.ServerlessWorkflowValidation:
        findings = validate_spec(spec)
        validated_at = timestamp_pb2.Timestamp()
        validated_at.GetCurrentTime()
        return validation_pb2.ServerlessWorkflowValidation(
            state=validation_pb2.INVALID if findings.errors else validation_pb2.VALID,
            yaml="" if findings.errors else document_text(spec),
            errors=findings.errors,
            warnings=findings.warnings,
            validated_at=validated_at,
            validation_workflow_id=activity.info().workflow_id or "",
        )

    @activity.defn(name=EXECUTE_WORKFLOW)
    async def execute_workflow(self, execution: execution_pb2.WorkflowExecution) -> execution_pb2.WorkflowExecutionStatus:
        execution_id = execution.metadata.id
        if not execution_id:
            return _failed("the execution has no metadata.id", "")
        await self._report(execution_id, execution_pb2.WorkflowExecutionStatus(
            phase=enum_pb2.EXECUTION_IN_PROGRESS, started_at=_now()))
        try:
            workflow, instance = await self._workflow_of(execution)
            env, secrets = await self._environment(execution, workflow, instance)
        except ExecutionFailed as exc:
            status = _failed(str(exc), _now())
            await self._report(execution_id, status)
            return status
        handle = await self._start_document(execution, workflow, env, secrets)
        description = await handle.describe()
        started_at = _rfc3339(description.start_time)
        try:
            result = await _heartbeating(handle.result(), self._settings.heartbeat_interval_seconds)
        except WorkflowFailureError as exc:
            status = _failed(_failure_message(exc), started_at)
            if isinstance(exc.cause, CancelledError):
                status.phase = enum_pb2.EXECUTION_CANCELLED
        except asyncio.CancelledError:
            # A runner that stops leaves the document running: the next attempt, on any
            # runner, attaches to it. Only a cancel of the execution cancels the document.
            if not activity.is_worker_shutdown():
                await handle.cancel()
            raise
        else:
            status = execution_pb2.WorkflowExecutionStatus(
                phase=enum_pb2.EXECUTION_COMPLETED, started_at=started_at, completed_at=_now(),
            )
            output = as_struct(result.output)
            if output is not None:
                status.output.CopyFrom(output)
        # The document sent its final status itself (it does even when this attempt is gone);
        # temporal_workflow_id stays the server's (the invoke workflow it cancels).
        return status

    async def _workflow_of(
        self, execution: execution_pb2.WorkflowExecution
    ) -> tuple[workflow_pb2.Workflow, workflow_instance_pb2.WorkflowInstance]:
        """instance → workflow, as Stigmer's runner reads them (a workflow alone runs
        through its default instance)."""
        spec = execution.spec
        try:
            instance_id = spec.workflow_instance_id
            if not instance_id:
                if not spec.workflow_id:
                    raise ExecutionFailed("the execution names neither a workflow instance nor a workflow")
                parent = await self._service.get_workflow(spec.workflow_id)
                instance_id = parent.status.default_instance_id
                if not instance_id:
                    raise ExecutionFailed(f"workflow {spec.workflow_id} has no default instance")
            instance = await self._service.get_instance(instance_id)
            return await self._service.get_workflow(instance.spec.workflow_id), instance
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                              grpc.StatusCode.INVALID_ARGUMENT):
                raise ExecutionFailed(f"cannot read the workflow to run: {exc.details()}") from None
            raise  # the server is away: the activity's retries try again

    async def _environment(
        self, execution: execution_pb2.WorkflowExecution, workflow: workflow_pb2.Workflow,
        instance: workflow_instance_pb2.WorkflowInstance,
    ) -> tuple[dict[str, str], set[str]]:
        """The run's variables: the workflow's `env_spec`, then the instance's environments
        in order, then the execution's `runtime_env`, each later one overriding; and which
        of them are secrets."""
        env: dict[str, str] = {}
        secrets: set[str] = set()

        def put(name: str, value: str, secret: bool) -> None:
            env[name] = value
            (secrets.add if secret else secrets.discard)(name)

        for name, value in workflow.spec.env_spec.data.items():
            put(name, value.value, value.is_secret)
        for reference in instance.spec.env_refs:
            wanted = resource_io_pb2.ApiResourceReference()
            wanted.CopyFrom(reference)
            if not wanted.org and wanted.scope != resource_enum_pb2.platform:
                wanted.org = execution.metadata.org
            try:
                environment = await self._service.get_environment(wanted)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    raise
                raise ExecutionFailed(f"environment {reference.slug!r} cannot be read: {exc.details()}") from None
            for name, value in environment.spec.data.items():
                put(name, value.value, value.is_secret)
        for name, execution_value in execution.spec.runtime_env.items():
            put(name, execution_value.value, execution_value.is_secret)
        return env, secrets

    async def _start_document(self, execution: execution_pb2.WorkflowExecution, workflow: workflow_pb2.Workflow,
                              env: dict[str, str], secrets: set[str]) -> Any:
        document = DocumentInput(
            execution_id=execution.metadata.id,
            tasks=_tasks_json(workflow.spec),
            input=_trigger_input(execution.spec.trigger_message),
            env=env,
            secret_names=sorted(secrets),
            org=execution.metadata.org,
            document={"name": workflow.spec.document.name, "namespace": workflow.spec.document.namespace,
                      "version": workflow.spec.document.version, "dsl": workflow.spec.document.dsl},
        )
        workflow_id = document_workflow_id(execution.metadata.id)
        try:
            return await self._temporal.start_workflow(
                DOCUMENT_WORKFLOW, document,
                id=workflow_id,
                task_queue=self._settings.workflow_document_task_queue,
                result_type=DocumentResult,
                execution_timeout=timedelta(seconds=self._settings.workflow_document_timeout_seconds),
                memo={MEMO_CALL_ACTIVITY_QUEUE: self._settings.workflow_call_activity_task_queue},
                # A retried attempt finds the same document again, running or finished.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            return self._temporal.get_workflow_handle(workflow_id, result_type=DocumentResult)

    async def _report(self, execution_id: str, status: execution_pb2.WorkflowExecutionStatus) -> None:
        """Progress is best effort: the returned status is what the server stores."""
        try:
            await self._sender.send(execution_id, status)
        except Exception as exc:  # a status that cannot be sent must not fail the run
            activity.logger.warning("status of %s not sent: %s", execution_id, exc)


async def _heartbeating(awaitable: Any, interval: float) -> DocumentResult:
    """Await the document, heartbeating meanwhile (a dead runner is noticed, and a cancel
    reaches this activity through the heartbeat's answer)."""
    waiting = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=interval)
            if done:
                result: DocumentResult = waiting.result()
                return result
            activity.heartbeat()
    finally:
        if not waiting.done():
            waiting.cancel()


def _failure_message(exc: WorkflowFailureError) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return str(cause) or str(exc)


def _failed(error: str, started_at: str) -> execution_pb2.WorkflowExecutionStatus:
    return execution_pb2.WorkflowExecutionStatus(
        phase=enum_pb2.EXECUTION_FAILED, error=error, started_at=started_at, completed_at=_now()
    )


def _tasks_json(spec: spec_pb2.WorkflowSpec) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json_format.MessageToDict(spec).get("tasks", [])
    return tasks


def _trigger_input(message: str) -> Any:
    """A JSON object stays itself; anything else is `{"message": …}`."""
    if not message:
        return {}
    try:
        value = json.loads(message)
    except ValueError:
        return {"message": message}
    return value if isinstance(value, dict) else {"message": message}


def _rfc3339(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _now() -> str:
    return _rfc3339(datetime.now(UTC))
