"""The server as the workflow runner sees it, played by a real grpc.aio server in the test
process: it records `updateStatus` calls and agent-execution creates, and serves
workflows, instances and agents from dictionaries. With server reflection on, so a
GRPC_CALL task can call it too. Plus a small HTTP endpoint that counts its calls, and the
server's side of the Temporal contract (a workflow that calls `ExecuteWorkflow`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_reflection.v1alpha import reflection
from temporalio import workflow
from temporalio.common import RetryPolicy

from ai.stigmer.agentic.agent.v1 import (
    api_pb2 as agent_pb2,
    query_pb2 as agent_query_pb2,
)
from ai.stigmer.agentic.agentexecution.v1 import (
    api_pb2 as agent_execution_pb2,
    command_pb2 as agent_execution_command_pb2,
)
from ai.stigmer.agentic.environment.v1 import api_pb2 as environment_pb2, query_pb2 as environment_query_pb2
from ai.stigmer.agentic.workflow.v1 import (
    api_pb2 as workflow_pb2,
    query_pb2 as workflow_query_pb2,
    spec_pb2,
)
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2 as execution_pb2,
    command_pb2 as execution_command_pb2,
)
from ai.stigmer.agentic.workflowinstance.v1 import (
    api_pb2 as instance_pb2,
    query_pb2 as instance_query_pb2,
)
from wfrunner.contract import EXECUTE_WORKFLOW, VALIDATE_WORKFLOW


@dataclass
class Recorded:
    updates: list[tuple[str, execution_pb2.WorkflowExecutionStatus]] = field(default_factory=list)
    agent_executions: list[agent_execution_pb2.AgentExecution] = field(default_factory=list)


class StandInServer:
    """What the runner reads and where it reports; `wait_for` wakes on each recorded call."""

    def __init__(self) -> None:
        self.recorded = Recorded()
        self.workflows: dict[str, workflow_pb2.Workflow] = {}
        self.instances: dict[str, instance_pb2.WorkflowInstance] = {}
        self.agents: dict[str, agent_pb2.Agent] = {}  # by slug
        self.environments: dict[str, environment_pb2.Environment] = {}  # by slug
        self._changed = asyncio.Condition()
        self.target = ""
        self._server: grpc.aio.Server | None = None

    # -- what tests use ------------------------------------------------------------------

    def add_workflow(self, workflow_id: str, tasks: list[dict[str, Any]], *, slug: str = "",
                     instance_id: str = "", env_refs: tuple[str, ...] = ()) -> None:
        found = workflow_pb2.Workflow()
        found.metadata.id = workflow_id
        found.metadata.slug = slug or workflow_id
        found.spec.document.name = slug or workflow_id
        found.spec.document.dsl = "1.0.0"
        for task in tasks:
            json_format.ParseDict(task, found.spec.tasks.add())
        if instance_id:
            found.status.default_instance_id = instance_id
            instance = instance_pb2.WorkflowInstance()
            instance.metadata.id = instance_id
            instance.spec.workflow_id = workflow_id
            for ref in env_refs:
                instance.spec.env_refs.add(slug=ref)
            self.instances[instance_id] = instance
        self.workflows[workflow_id] = found

    def add_environment(self, slug: str, values: dict[str, tuple[str, bool]]) -> None:
        environment = environment_pb2.Environment()
        environment.metadata.slug = slug
        for name, (value, secret) in values.items():
            environment.spec.data[name].value = value
            environment.spec.data[name].is_secret = secret
        self.environments[slug] = environment

    def add_agent(self, slug: str, agent_id: str) -> None:
        agent = agent_pb2.Agent()
        agent.metadata.id = agent_id
        agent.metadata.slug = slug
        self.agents[slug] = agent

    def tasks_of(self, execution_id: str) -> list[execution_pb2.WorkflowTask]:
        """Every task update sent for the execution, in order."""
        return [t for eid, s in self.recorded.updates if eid == execution_id for t in s.tasks]

    def phases_of(self, execution_id: str) -> list[int]:
        return [s.phase for eid, s in self.recorded.updates if eid == execution_id]

    async def wait_for(self, holds: Callable[[], Any], timeout: float = 30.0) -> Any:
        async with self._changed:
            return await asyncio.wait_for(self._changed.wait_for(holds), timeout)

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the servicers -------------------------------------------------------------------

    async def update_status(self, request: Any, context: Any) -> execution_pb2.WorkflowExecution:
        self.recorded.updates.append((request.execution_id, request.status))
        await self._note()
        return execution_pb2.WorkflowExecution()

    async def get_workflow(self, request: Any, context: grpc.aio.ServicerContext) -> workflow_pb2.Workflow:
        if request.value not in self.workflows:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"workflow {request.value} not found")
        return self.workflows[request.value]

    async def get_workflow_by_reference(self, request: Any, context: grpc.aio.ServicerContext) -> workflow_pb2.Workflow:
        for found in self.workflows.values():
            if found.metadata.slug == request.slug:
                return found
        await context.abort(grpc.StatusCode.NOT_FOUND, f"workflow {request.slug} not found")
        raise AssertionError

    async def get_instance(self, request: Any, context: grpc.aio.ServicerContext) -> instance_pb2.WorkflowInstance:
        if request.value not in self.instances:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"instance {request.value} not found")
        return self.instances[request.value]

    async def get_agent_by_reference(self, request: Any, context: grpc.aio.ServicerContext) -> agent_pb2.Agent:
        if request.slug not in self.agents:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"agent {request.slug} not found")
        return self.agents[request.slug]

    async def get_environment_by_reference(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.slug not in self.environments:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"environment {request.slug} not found")
        return self.environments[request.slug]

    async def create_agent_execution(self, request: Any, context: Any) -> agent_execution_pb2.AgentExecution:
        created = agent_execution_pb2.AgentExecution()
        created.CopyFrom(request)
        created.metadata.id = f"aex_{len(self.recorded.agent_executions) + 1}"
        self.recorded.agent_executions.append(created)
        await self._note()
        return created

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[StandInServer]:
        server = grpc.aio.server()
        handlers = [
            _handlers(execution_command_pb2, "WorkflowExecutionCommandController",
                      {"updateStatus": self.update_status}),
            _handlers(workflow_query_pb2, "WorkflowQueryController",
                      {"get": self.get_workflow, "getByReference": self.get_workflow_by_reference}),
            _handlers(instance_query_pb2, "WorkflowInstanceQueryController", {"get": self.get_instance}),
            _handlers(agent_query_pb2, "AgentQueryController", {"getByReference": self.get_agent_by_reference}),
            _handlers(agent_execution_command_pb2, "AgentExecutionCommandController",
                      {"create": self.create_agent_execution}),
            _handlers(environment_query_pb2, "EnvironmentQueryController",
                      {"getByReference": self.get_environment_by_reference}),
        ]
        server.add_generic_rpc_handlers(handlers)
        services = [
            execution_command_pb2.DESCRIPTOR.services_by_name["WorkflowExecutionCommandController"].full_name,
            workflow_query_pb2.DESCRIPTOR.services_by_name["WorkflowQueryController"].full_name,
            instance_query_pb2.DESCRIPTOR.services_by_name["WorkflowInstanceQueryController"].full_name,
            agent_query_pb2.DESCRIPTOR.services_by_name["AgentQueryController"].full_name,
            agent_execution_command_pb2.DESCRIPTOR.services_by_name["AgentExecutionCommandController"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(services, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self.target = f"127.0.0.1:{port}"
        self._server = server
        try:
            yield self
        finally:
            await server.stop(grace=None)


def _handlers(module: Any, service: str, methods: dict[str, Any]) -> grpc.GenericRpcHandler:
    """A generic handler for some methods of a generated service (the rest UNIMPLEMENTED)."""
    descriptor = module.DESCRIPTOR.services_by_name[service]
    rpc_handlers = {}
    for name, behaviour in methods.items():
        method = descriptor.methods_by_name[name]
        request_class = _message_class(method.input_type)
        response_class = _message_class(method.output_type)
        rpc_handlers[name] = grpc.unary_unary_rpc_method_handler(
            behaviour, request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, rpc_handlers)


def _message_class(descriptor: Any) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


# -- a counting HTTP endpoint -------------------------------------------------------------


class HttpEndpoint:
    """HTTP/1.1 on a free port. `/fail` answers 500; any other path answers 200 with
    `{"path", "method", "body", "headers", "calls"}` (its calls so far, this one included)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}  # the last request's, by path
        self.base_url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                self.calls[path] += 1
                self.headers[path] = headers
                if path == "/fail":
                    status, answer = "500 Internal Server Error", {"error": "it broke"}
                else:
                    body = json.loads(raw) if raw else None
                    status, answer = "200 OK", {"path": path, "method": method, "body": body,
                                                "headers": headers, "calls": self.calls[path]}
                payload = json.dumps(answer).encode()
                writer.write(f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[HttpEndpoint]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            yield self


# -- the server's side of the Temporal contract --------------------------------------------


@workflow.defn(name="TestInvokeWorkflowExecution", sandboxed=False)
class InvokeStandIn:
    """Calls `ExecuteWorkflow` on the runner queue named by the memo `activityTaskQueue`,
    as the server's invoke workflow does; a runner that stops heartbeating is retried
    (memo `testAttempts`, default 5; the server's own makes one attempt)."""

    @workflow.run
    async def run(self, execution: execution_pb2.WorkflowExecution) -> execution_pb2.WorkflowExecutionStatus:
        queue: str = workflow.memo_value("activityTaskQueue", type_hint=str)
        attempts: int = workflow.memo_value("testAttempts", 5, type_hint=int)
        status: execution_pb2.WorkflowExecutionStatus = await workflow.execute_activity(
            EXECUTE_WORKFLOW, execution,
            task_queue=queue,
            result_type=execution_pb2.WorkflowExecutionStatus,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=attempts),
        )
        return status


@workflow.defn(name="TestValidateWorkflow", sandboxed=False)
class ValidateStandIn:
    """Calls `validateWorkflow` on the queue named by the memo, as the server's validation
    workflow does (30 s, 3 attempts)."""

    @workflow.run
    async def run(self, spec: spec_pb2.WorkflowSpec) -> validation_pb2.ServerlessWorkflowValidation:
        queue: str = workflow.memo_value("activityTaskQueue", type_hint=str)
        result: validation_pb2.ServerlessWorkflowValidation = await workflow.execute_activity(
            VALIDATE_WORKFLOW, spec,
            task_queue=queue,
            result_type=validation_pb2.ServerlessWorkflowValidation,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result
