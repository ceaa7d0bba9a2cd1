"""The document workflow's activities: status reports, HTTP and gRPC calls, agent calls,
and looking up the workflow a RUN task names. They run in the runner, beside the
document workflow, on its queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
from google.protobuf import descriptor_pool, json_format, message_factory, struct_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as agent_execution_pb2
from ai.stigmer.agentic.executioncontext.v1 import spec_pb2 as execution_context_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as execution_pb2, enum_pb2
from ai.stigmer.commons.apiresource import enum_pb2 as resource_enum_pb2
from wfrunner.contract import (
    AGENT_CALL,
    GRPC_CALL,
    HTTP_CALL,
    REPORT_RESULT,
    REPORT_TASKS,
    RESOLVE_WORKFLOW,
    TASK_ERROR_TYPE,
    AgentCallRequest,
    GrpcRequest,
    HttpRequest,
    ResolvedWorkflow,
    ResolveWorkflowRequest,
    RunResult,
    TaskReport,
    TaskReports,
)
from wfrunner.errors import describe, error_object
from wfrunner.hosts import HostPolicy, HostRefused
from wfrunner.service_client import ServiceClient, StatusSender

# What the status says a task of each kind is (Stigmer's WorkflowTaskType).
TASK_TYPES = {
    "WORKFLOW_TASK_KIND_AGENT_CALL": enum_pb2.WORKFLOW_TASK_AGENT_INVOCATION,
    "WORKFLOW_TASK_KIND_HTTP_CALL": enum_pb2.WORKFLOW_TASK_API_CALL,
    "WORKFLOW_TASK_KIND_GRPC_CALL": enum_pb2.WORKFLOW_TASK_API_CALL,
    "WORKFLOW_TASK_KIND_CALL_ACTIVITY": enum_pb2.WORKFLOW_TASK_API_CALL,
    "WORKFLOW_TASK_KIND_SWITCH": enum_pb2.WORKFLOW_TASK_CONDITIONAL,
    "WORKFLOW_TASK_KIND_FORK": enum_pb2.WORKFLOW_TASK_PARALLEL,
    "WORKFLOW_TASK_KIND_SET": enum_pb2.WORKFLOW_TASK_TRANSFORM,
    "WORKFLOW_TASK_KIND_LISTEN": enum_pb2.WORKFLOW_TASK_APPROVAL,
}
# Methods that send no body.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
# How much of a failed answer's body an error quotes.
_ERROR_BODY_CHARS = 500


def as_struct(value: Any) -> struct_pb2.Struct | None:
    """A task's input or output as the Struct the status holds: an object as it is, any
    other value under `result`."""
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(value if isinstance(value, dict) else {"result": value})
    return struct


def task_status(report: TaskReport) -> execution_pb2.WorkflowExecutionStatus:
    """One update carrying one task, as Stigmer's runner sends them."""
    task = execution_pb2.WorkflowTask(
        task_id=report.task_id,
        task_name=report.task_name,
        task_type=TASK_TYPES.get(report.kind, enum_pb2.WORKFLOW_TASK_CUSTOM),
        status=report.status,  # the enum value by name
        started_at=report.started_at,
        error=report.error,
    )
    if report.status in ("WORKFLOW_TASK_COMPLETED", "WORKFLOW_TASK_FAILED"):
        task.completed_at = report.at
    for field, value in (("input", report.input), ("output", report.output)):
        struct = as_struct(value)
        if struct is not None:
            getattr(task, field).CopyFrom(struct)
    task.metadata.update({"kind": report.kind})
    return execution_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS, tasks=[task])


class DocumentActivities:
    def __init__(self, sender: StatusSender, service: ServiceClient, http: httpx.AsyncClient,
                 hosts: HostPolicy) -> None:
        self._sender = sender
        self._service = service
        self._http = http  # wfrunner.hosts.http_client: each request's host is checked
        self._hosts = hosts

    @activity.defn(name=REPORT_TASKS)
    async def report_tasks(self, batch: TaskReports) -> None:
        """One `updateStatus` per report, in order (a retry resends them all: the server
        merges a task by its id, so a repeat changes nothing)."""
        for report in batch.reports:
            await self._sender.send(report.execution_id, task_status(report))

    @activity.defn(name=REPORT_RESULT)
    async def report_result(self, result: RunResult) -> None:
        status = execution_pb2.WorkflowExecutionStatus(
            phase=result.phase,  # the enum value by name
            error=result.error,
            started_at=result.started_at,
            completed_at=result.completed_at,
        )
        output = as_struct(result.output)
        if output is not None:
            status.output.CopyFrom(output)
        await self._sender.send(result.execution_id, status)

    @activity.defn(name=HTTP_CALL)
    async def http_call(self, request: HttpRequest) -> Any:
        """The answer's body (JSON when it is JSON, else text). A 4xx/5xx answer is the
        task's `communication` error with that status; it is not retried."""
        body = request.body if request.method not in _BODILESS else None
        send: dict[str, Any] = {}
        if isinstance(body, str):
            send["content"] = body
        elif body is not None:
            send["json"] = body
        try:
            response = await self._http.request(
                request.method, request.uri, headers=request.headers, timeout=request.timeout_seconds, **send
            )
        except HostRefused as exc:
            raise _task_error("authorization", f"{request.method} {request.uri}: {exc}", request.reference) from None
        except httpx.TimeoutException as exc:
            raise _task_error("timeout", f"{request.method} {request.uri}: no answer in "
                              f"{request.timeout_seconds:g} s ({type(exc).__name__})", request.reference) from None
        except httpx.HTTPError as exc:
            # Connection failures are retried (the activity's retry policy); the last attempt
            # fails the task.
            raise _task_error("communication", f"{request.method} {request.uri}: {exc or type(exc).__name__}",
                              request.reference, retryable=True) from None
        if response.status_code >= 400:
            raise _task_error(
                "communication",
                f"{request.method} {request.uri} answered {response.status_code}: "
                f"{response.text[:_ERROR_BODY_CHARS]}",
                request.reference,
                status=response.status_code,
            )
        return _content(response)

    @activity.defn(name=GRPC_CALL)
    async def grpc_call(self, request: GrpcRequest) -> Any:
        """One unary call, its types found by the server's reflection. `service` is
        `host:port/package.Service` (Stigmer's config has no separate address)."""
        target, _, service = request.service.rpartition("/")
        target = request.target or target
        if not target or not service:
            raise _task_error("configuration", f"grpc service {request.service!r} is not host:port/package.Service",
                              request.reference)
        try:
            await self._hosts.check(f"grpc://{target}")
        except HostRefused as exc:
            raise _task_error("authorization", f"{service}/{request.method}: {exc}", request.reference) from None
        try:
            return await asyncio.to_thread(_call_grpc, target, service, request.method, request.request,
                                           request.timeout_seconds)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise _task_error("communication", f"{service}/{request.method}: {code.name} {details}",
                              request.reference, retryable=code == grpc.StatusCode.UNAVAILABLE) from None
        except (KeyError, json_format.ParseError) as exc:
            raise _task_error("validation", f"{service}/{request.method}: {exc}", request.reference) from None

    @activity.defn(name=AGENT_CALL)
    async def agent_call(self, request: AgentCallRequest) -> None:
        """Start the agent with this activity's task token as the callback; the server
        completes the activity with the agent execution when the agent ends."""
        info = activity.info()
        scope = (resource_enum_pb2.ApiResourceOwnerScope.Value(request.scope)
                 if request.scope in resource_enum_pb2.ApiResourceOwnerScope.keys()  # noqa: SIM118 - an enum wrapper, not a dict
                 else resource_enum_pb2.organization)
        try:
            agent = await self._service.get_agent_by_slug(request.agent, request.org, scope)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise _task_error("validation", f"agent {request.agent!r} not found", request.reference) from None
            raise
        execution = agent_execution_pb2.AgentExecution(api_version="agentic.stigmer.ai/v1", kind="AgentExecution")
        execution.metadata.name = f"{request.agent}-{request.workflow_execution_id}"[:63]
        if request.org:
            execution.metadata.org = request.org
        spec = execution.spec
        spec.agent_id = agent.metadata.id
        spec.message = request.message
        spec.callback_token = info.task_token
        if request.model:
            spec.execution_config.model_name = request.model
        for key, value in request.env.items():
            spec.runtime_env[key].CopyFrom(
                execution_context_pb2.ExecutionValue(value=value, is_secret=key in request.secret_env)
            )
        created = await self._service.create_agent_execution(execution)
        activity.logger.info("agent execution %s started for %s", created.metadata.id, request.reference)
        activity.raise_complete_async()

    @activity.defn(name=RESOLVE_WORKFLOW)
    async def resolve_workflow(self, request: ResolveWorkflowRequest) -> ResolvedWorkflow:
        """A RUN task's workflow: by id, else by slug in the run's organization."""
        try:
            found = await self._service.get_workflow(request.workflow)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise
            try:
                found = await self._service.get_workflow_by_slug(request.workflow, request.org)
            except grpc.aio.AioRpcError as again:
                if again.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                raise _task_error("validation", f"workflow {request.workflow!r} not found", "") from None
        spec = json_format.MessageToDict(found.spec)
        return ResolvedWorkflow(workflow_id=found.metadata.id, tasks=spec.get("tasks", []),
                                document=spec.get("document", {}))


def _task_error(kind: str, detail: str, instance: str, *, status: int | None = None,
                retryable: bool = False) -> ApplicationError:
    error = error_object(kind, detail, instance=instance, status=status)
    return ApplicationError(describe(error), error, type=TASK_ERROR_TYPE, non_retryable=not retryable)


def _content(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def _call_grpc(target: str, service: str, method: str, request: dict[str, Any], timeout: float) -> Any:
    with grpc.insecure_channel(target) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        descriptor = pool.FindServiceByName(service).methods_by_name[method]
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        call = channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        answer = call(json_format.ParseDict(request, request_class()), timeout=timeout)
        return json_format.MessageToDict(answer)
