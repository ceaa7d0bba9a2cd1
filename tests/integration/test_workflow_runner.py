"""The workflow runner on the real Temporal dev server: every task kind, a document that
combines them, a runner stopped mid-document, cancel, and Stigmer's runner contract.

The server is a stand-in gRPC server of the test (tests/utils/wf_stand_in.py): it records
each `updateStatus` and serves workflows, instances and agents.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import Worker

from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as agent_execution_pb2, enum_pb2 as agent_enum_pb2
from ai.stigmer.agentic.executioncontext.v1 import spec_pb2 as execution_context_pb2
from ai.stigmer.agentic.workflow.v1 import spec_pb2
from ai.stigmer.agentic.workflow.v1.serverless import validation_pb2
from ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as execution_pb2, enum_pb2
from devtools.embedded import ServiceEndpoints
from devtools.stack import spawn
from tests.utils.wf_stand_in import HttpEndpoint, InvokeStandIn, StandInServer, ValidateStandIn
from wfrunner.contract import DOCUMENT_WORKFLOW, DocumentInput, DocumentResult, document_workflow_id
from wfrunner.hosts import HostPolicy, http_client
from wfrunner.redaction import REDACTED
from wfrunner.service_client import GrpcStatusSender, ServiceClient
from wfrunner.settings import WorkflowRunnerSettings
from wfrunner.worker import build_workers

pytestmark = pytest.mark.timeout(120)


def task(name: str, kind: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": f"WORKFLOW_TASK_KIND_{kind}", "taskConfig": config or {}, **extra}


@activity.defn(name="Greet")
async def greet(argument: dict[str, Any]) -> dict[str, Any]:
    return {"greeting": f"hello {argument['who']}"}


@dataclass
class Harness:
    client: Client
    settings: WorkflowRunnerSettings
    server: StandInServer
    endpoint: HttpEndpoint

    @contextlib.asynccontextmanager
    async def runner(self) -> AsyncIterator[None]:
        """One workflow runner (its three workers) until the block ends."""
        service = ServiceClient(self.settings.server_grpc_target)
        hosts = HostPolicy(self.settings.workflow_http_hosts)
        async with http_client(hosts) as http, contextlib.AsyncExitStack() as workers:
            for worker in build_workers(self.client, self.settings, service, GrpcStatusSender(service), http, hosts):
                await workers.enter_async_context(worker)
            try:
                yield
            finally:
                await workers.aclose()
                await service.close()

    async def start_document(self, tasks: list[dict[str, Any]], input: Any = None, *,
                             env: dict[str, str] | None = None, secrets: tuple[str, ...] = ()) -> Any:
        execution_id = f"wex_{uuid.uuid4().hex[:12]}"
        return await self.client.start_workflow(
            DOCUMENT_WORKFLOW,
            DocumentInput(execution_id=execution_id, tasks=tasks, input=input if input is not None else {},
                          env=env or {}, secret_names=list(secrets)),
            id=document_workflow_id(execution_id),
            task_queue=self.settings.workflow_document_task_queue,
            result_type=DocumentResult,
            memo={"callActivityTaskQueue": self.settings.workflow_call_activity_task_queue},
        )

    async def run_document(self, tasks: list[dict[str, Any]], input: Any = None, **options: Any) -> Any:
        handle = await self.start_document(tasks, input, **options)
        result: DocumentResult = await handle.result()
        return result.output

    async def start_execution(self, execution: execution_pb2.WorkflowExecution, *, attempts: int = 5) -> Any:
        """As the server does: its invoke workflow calls ExecuteWorkflow on the runner queue."""
        return await self.client.start_workflow(
            InvokeStandIn.run, execution,
            id=f"invoke-{execution.metadata.id}",
            task_queue=self.server_queue,
            memo={"activityTaskQueue": self.settings.workflow_execution_runner_task_queue, "testAttempts": attempts},
        )

    @property
    def server_queue(self) -> str:
        return f"{self.settings.workflow_document_task_queue}-server"


@pytest.fixture
async def harness(services: ServiceEndpoints) -> AsyncIterator[Harness]:
    """A stand-in server, an HTTP endpoint, the server's invoke workflow and a worker of the
    user's activities, each test on queues of its own (the runner is started by the test)."""
    prefix = f"wf-{uuid.uuid4().hex[:8]}"
    async with StandInServer().serving() as server, HttpEndpoint().serving() as endpoint:
        settings = WorkflowRunnerSettings(
            temporal_address=services.temporal_address,
            server_grpc_target=server.target,
            workflow_execution_runner_task_queue=f"{prefix}-execution",
            workflow_validation_runner_task_queue=f"{prefix}-validation",
            workflow_document_task_queue=f"{prefix}-documents",
            workflow_call_activity_task_queue=f"{prefix}-user-activities",
            heartbeat_interval_seconds=0.5,
            workflow_http_hosts="127.0.0.1",  # the local endpoint and the stand-in server
        )
        client = await Client.connect(services.temporal_address)
        harness = Harness(client, settings, server, endpoint)
        server_side = Worker(client, task_queue=harness.server_queue, workflows=[InvokeStandIn, ValidateStandIn])
        users = Worker(client, task_queue=settings.workflow_call_activity_task_queue, activities=[greet])
        async with server_side, users:
            yield harness


def by_name(server: StandInServer, execution_id: str) -> dict[str, list[execution_pb2.WorkflowTask]]:
    reports: dict[str, list[execution_pb2.WorkflowTask]] = {}
    for reported in server.tasks_of(execution_id):
        reports.setdefault(reported.task_name, []).append(reported)
    return reports


def assert_each_task_started_then_ended(server: StandInServer, execution_id: str, *, repeats: bool = False) -> None:
    """Per task id: exactly one IN_PROGRESS, then one COMPLETED or FAILED, in that order.

    `repeats`: a runner killed after sending reports and before Temporal recorded it sent
    them may send them again (reports are at least once); a repeat is the same update."""
    seen: dict[str, list[int]] = {}
    for reported in server.tasks_of(execution_id):
        statuses = seen.setdefault(reported.task_id, [])
        if not (repeats and statuses and statuses[-1] == reported.status):
            statuses.append(reported.status)
    assert seen
    for task_id, statuses in seen.items():
        assert statuses[0] == enum_pb2.WORKFLOW_TASK_IN_PROGRESS and len(statuses) == 2, (task_id, statuses)
        assert statuses[1] in (enum_pb2.WORKFLOW_TASK_COMPLETED, enum_pb2.WORKFLOW_TASK_FAILED), (task_id, statuses)


def as_dict(struct: Any) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


# -- one kind at a time ---------------------------------------------------------------------


async def test_set_merges_into_the_data_and_export_as_feeds_the_context(harness: Harness) -> None:
    tasks = [
        task("greet", "SET", {"variables": {"greeting": "${ \"hello \" + .name }"}},
             export={"as": "${ {greeted: .greeting} }"}),
        task("echo", "SET", {"variables": {"from_context": "${ $context.greeted }", "seen": "${ $data.greeting }"}}),
    ]
    async with harness.runner():
        handle = await harness.start_document(tasks, {"name": "Ada"})
        output = (await handle.result()).output
    assert output == {"name": "Ada", "greeting": "hello Ada", "from_context": "hello Ada", "seen": "hello Ada"}
    execution_id = handle.id.removeprefix("workflow-exec-")
    # One update per task before and one after, in the document's order.
    assert [(t.task_name, t.status) for t in harness.server.tasks_of(execution_id)] == [
        ("greet", enum_pb2.WORKFLOW_TASK_IN_PROGRESS), ("greet", enum_pb2.WORKFLOW_TASK_COMPLETED),
        ("echo", enum_pb2.WORKFLOW_TASK_IN_PROGRESS), ("echo", enum_pb2.WORKFLOW_TASK_COMPLETED),
    ]
    *progress, final = harness.server.recorded.updates
    assert all(len(s.tasks) == 1 for _, s in progress)
    # Then the execution's final status, from the document.
    assert (final[1].phase, len(final[1].tasks)) == (enum_pb2.EXECUTION_COMPLETED, 0)
    assert json_format.MessageToDict(final[1].output) == output
    reports = by_name(harness.server, execution_id)
    assert reports["greet"][0].task_id == "/do/0/greet"
    assert as_dict(reports["greet"][1].input) == {"name": "Ada"}
    assert as_dict(reports["greet"][1].output)["greeting"] == "hello Ada"
    assert reports["greet"][1].task_type == enum_pb2.WORKFLOW_TASK_TRANSFORM
    assert reports["greet"][1].started_at and reports["greet"][1].completed_at


async def test_switch_goes_to_the_first_case_that_holds_or_the_default(harness: Harness) -> None:
    tasks = [
        task("route", "SWITCH", {"cases": [
            {"name": "big", "when": "${ .n > 10 }", "then": "big"},
            {"name": "otherwise", "then": "small"},
        ]}),
        task("big", "SET", {"variables": {"size": "big"}}, flow={"then": "end"}),
        task("small", "SET", {"variables": {"size": "small"}}),
    ]
    async with harness.runner():
        assert (await harness.run_document(tasks, {"n": 42}))["size"] == "big"
        assert (await harness.run_document(tasks, {"n": 1}))["size"] == "small"


async def test_for_runs_its_tasks_once_per_item(harness: Harness) -> None:
    tasks = [
        task("loop", "FOR", {"each": "city", "in": "${ .cities }", "do": [
            task("visit", "SET", {"variables": {"visited": "${ (.visited // []) + [$city + \"#\" + ($index | tostring)] }"}}),
        ]}),
    ]
    async with harness.runner():
        handle = await harness.start_document(tasks, {"cities": ["Lisbon", "Porto"]})
        output = (await handle.result()).output
    assert output["visited"] == ["Lisbon#0", "Porto#1"]
    ids = {t.task_id for t in harness.server.tasks_of(handle.id.removeprefix("workflow-exec-"))}
    assert {"/do/0/loop", "/do/0/loop/for/0/do/0/visit", "/do/0/loop/for/1/do/0/visit"} <= ids


async def test_fork_runs_branches_in_parallel_and_compete_takes_the_first(harness: Harness) -> None:
    both = [task("both", "FORK", {"branches": [
        {"name": "a", "do": [task("a1", "SET", {"variables": {"branch": "a"}}),
                             task("a2", "SET", {"variables": {"step": 2}})]},
        {"name": "b", "do": [task("b0", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/b"}}),
                             task("b1", "SET", {"variables": {"branch": "b"}})]},
    ]})]
    race = [task("race", "FORK", {"compete": True, "branches": [
        {"name": "slow", "do": [task("nap", "WAIT", {"seconds": 3600})]},
        {"name": "fast", "do": [task("quick", "SET", {"variables": {"winner": "fast"}})]},
    ]})]
    async with harness.runner():
        handle = await harness.start_document(both)
        assert [o["branch"] for o in (await handle.result()).output] == ["a", "b"]
        assert (await harness.run_document(race))["winner"] == "fast"
    assert_each_task_started_then_ended(harness.server, handle.id.removeprefix("workflow-exec-"))


async def test_a_failing_http_call_is_caught_by_try(harness: Harness) -> None:
    tasks = [
        task("guarded", "TRY", {
            "try": [task("call", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/fail"}})],
            "catch": {"as": "oops", "do": [
                task("recover", "SET", {"variables": {"status": "${ $oops.status }", "kind": "${ $oops.type }"}}),
            ]},
        }),
    ]
    async with harness.runner():
        handle = await harness.start_document(tasks)
        output = (await handle.result()).output
    assert output["status"] == 500
    assert output["kind"].endswith("/errors/communication")
    assert harness.endpoint.calls["/fail"] == 1  # an answer is not retried
    reports = by_name(harness.server, handle.id.removeprefix("workflow-exec-"))
    assert reports["call"][-1].status == enum_pb2.WORKFLOW_TASK_FAILED
    assert "answered 500" in reports["call"][-1].error
    assert reports["guarded"][-1].status == enum_pb2.WORKFLOW_TASK_COMPLETED


async def test_try_retries_before_it_catches(harness: Harness) -> None:
    tasks = [task("guarded", "TRY", {
        "try": [task("call", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/fail"}})],
        "catch": {"retry": {"limit": {"attempt": {"count": 2}}}, "do": [task("gave-up", "SET", {"variables": {"ok": "no"}})]},
    })]
    async with harness.runner():
        assert (await harness.run_document(tasks))["ok"] == "no"
    assert harness.endpoint.calls["/fail"] == 3


async def test_raise_fails_the_document_with_its_error(harness: Harness) -> None:
    tasks = [task("stop", "RAISE", {"error": "validation", "message": "${ \"bad input: \" + .why }"})]
    async with harness.runner():
        handle = await harness.start_document(tasks, {"why": "empty"})
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "bad input: empty" in str(failure.value.cause)
    assert "validation (400)" in str(failure.value.cause)


async def test_wait_is_a_durable_timer(harness: Harness) -> None:
    async with harness.runner():
        handle = await harness.start_document([task("pause", "WAIT", {"seconds": 1})], {"kept": True})
        assert (await handle.result()).output == {"kept": True}
    history = await handle.fetch_history()
    assert any(e.HasField("timer_started_event_attributes") for e in history.events)


async def test_listen_waits_for_its_signals(harness: Harness) -> None:
    tasks = [task("approval", "LISTEN", {"to": {"mode": "all", "signals": [{"id": "approve", "type": "signal"},
                                                                            {"id": "comment"}]}})]
    async with harness.runner():
        handle = await harness.start_document(tasks)
        execution_id = handle.id.removeprefix("workflow-exec-")
        await harness.server.wait_for(lambda: harness.server.tasks_of(execution_id))
        await handle.signal("approve", {"by": "ada"})
        await handle.signal("comment", "looks good")
        output = (await handle.result()).output
    assert output == {"approve": {"by": "ada"}, "comment": "looks good"}


async def test_http_call_sends_method_headers_and_body_and_keeps_secrets_out_of_the_status(harness: Harness) -> None:
    tasks = [task("post", "HTTP_CALL", {
        "method": "POST",
        "endpoint": {"uri": f"{harness.endpoint.base_url}/orders"},
        "headers": {"Authorization": "${ \"Bearer \" + $secrets.API_TOKEN }"},
        "body": {"item": "${ .item }", "region": "${ $env.REGION }"},
    })]
    async with harness.runner():
        handle = await harness.start_document(tasks, {"item": "book"}, env={"API_TOKEN": "s3cr3t", "REGION": "eu"},
                                              secrets=("API_TOKEN",))
        output = (await handle.result()).output
    assert output["method"] == "POST"
    assert output["body"] == {"item": "book", "region": "eu"}
    assert harness.endpoint.headers["/orders"]["authorization"] == "Bearer s3cr3t"  # the call had it
    assert output["headers"]["authorization"] == f"Bearer {REDACTED}"  # the run's output does not
    reported = harness.server.tasks_of(handle.id.removeprefix("workflow-exec-"))
    assert reported[-1].task_type == enum_pb2.WORKFLOW_TASK_API_CALL
    assert as_dict(reported[-1].output)["headers"]["authorization"] == f"Bearer {REDACTED}"
    assert all("s3cr3t" not in str(t) for t in reported)


async def test_calls_to_hosts_the_operator_did_not_allow_fail_the_task(harness: Harness) -> None:
    harness.settings.workflow_http_hosts = "*"  # any public host: not this machine's loopback
    tasks = [task("guarded", "TRY", {
        "try": [task("peek", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/x"}})],
        "catch": {"do": [task("why", "SET", {"variables": {"status": "${ $error.status }", "detail": "${ $error.detail }"}})]},
    }), task("grpc", "GRPC_CALL", {"service": f"{harness.server.target}/grpc.health.v1.Health", "method": "Check"})]
    async with harness.runner():
        handle = await harness.start_document(tasks)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "WORKFLOW_HTTP_HOSTS allows *" in str(failure.value.cause)  # the gRPC call, after the caught one
    reported = {t.task_name: t for t in harness.server.tasks_of(handle.id.removeprefix("workflow-exec-"))}
    assert as_dict(reported["why"].output)["status"] == 403
    assert "may not be called from workflows" in as_dict(reported["why"].output)["detail"]
    assert harness.endpoint.calls == {}


async def test_grpc_call_finds_the_method_by_server_reflection(harness: Harness) -> None:
    harness.server.add_workflow("wfl_target", [task("x", "SET", {"variables": {"a": "1"}})], instance_id="wfi_target")
    tasks = [task("lookup", "GRPC_CALL", {
        "service": f"{harness.server.target}/ai.stigmer.agentic.workflowinstance.v1.WorkflowInstanceQueryController",
        "method": "get",
        "request": {"value": "${ .id }"},
    })]
    async with harness.runner():
        output = await harness.run_document(tasks, {"id": "wfi_target"})
    assert output["spec"]["workflowId"] == "wfl_target"


async def test_call_activity_runs_a_named_activity_on_the_users_queue(harness: Harness) -> None:
    tasks = [task("hello", "CALL_ACTIVITY", {"activity": "Greet", "input": {"who": "${ .name }"}})]
    async with harness.runner():
        assert await harness.run_document(tasks, {"name": "Grace"}) == {"greeting": "hello Grace"}


async def test_run_runs_a_stored_workflow_as_a_child(harness: Harness) -> None:
    harness.server.add_workflow("wfl_child", [
        task("double", "SET", {"variables": {"doubled": "${ .n * 2 }"}}),
    ], slug="doubler")
    tasks = [task("delegate", "RUN", {"workflow": "doubler", "input": {"n": "${ .n }"}})]
    async with harness.runner():
        handle = await harness.start_document(tasks, {"n": 21})
        output = (await handle.result()).output
    assert output == {"n": 21, "doubled": 42}
    ids = [t.task_id for t in harness.server.tasks_of(handle.id.removeprefix("workflow-exec-"))]
    assert "/do/0/delegate/run/do/0/double" in ids


async def test_agent_call_completes_through_the_callback_token(harness: Harness) -> None:
    harness.server.add_agent("helper", "agt_1")
    tasks = [task("ask", "AGENT_CALL", {"agent": "helper", "message": "${ \"Summarise \" + .topic }",
                                        "env": {"KEY": "${ $secrets.KEY }", "LANG": "pt"},
                                        "config": {"model": "scripted", "timeout": 60}})]
    async with harness.runner():
        handle = await harness.start_document(tasks, {"topic": "Lisbon"}, env={"KEY": "k-1"}, secrets=("KEY",))
        await harness.server.wait_for(lambda: harness.server.recorded.agent_executions)
        created = harness.server.recorded.agent_executions[0]
        assert created.spec.agent_id == "agt_1"
        assert created.spec.message == "Summarise Lisbon"
        assert created.spec.execution_config.model_name == "scripted"
        assert (created.spec.runtime_env["KEY"].value, created.spec.runtime_env["KEY"].is_secret) == ("k-1", True)
        assert (created.spec.runtime_env["LANG"].value, created.spec.runtime_env["LANG"].is_secret) == ("pt", False)
        # What the server's stigmer/system/complete-external-activity does when the agent ends.
        finished = agent_execution_pb2.AgentExecution()
        finished.CopyFrom(created)
        finished.status.phase = agent_enum_pb2.EXECUTION_COMPLETED
        finished.status.messages.add(type=agent_enum_pb2.MESSAGE_AI, content="Lisbon is lovely.")
        await harness.client.get_async_activity_handle(task_token=created.spec.callback_token).complete(finished)
        output = (await handle.result()).output
    assert output == "Lisbon is lovely."
    reported = harness.server.tasks_of(handle.id.removeprefix("workflow-exec-"))
    assert reported[-1].task_type == enum_pb2.WORKFLOW_TASK_AGENT_INVOCATION
    assert as_dict(reported[-1].output) == {"result": "Lisbon is lovely."}


# -- Stigmer's runner contract ----------------------------------------------------------------


def execution(execution_id: str, instance_id: str, trigger: str = "", **env: tuple[str, bool]) -> execution_pb2.WorkflowExecution:
    run = execution_pb2.WorkflowExecution(api_version="agentic.stigmer.ai/v1", kind="WorkflowExecution")
    run.metadata.id = execution_id
    run.metadata.org = "org_1"
    run.spec.workflow_instance_id = instance_id
    run.spec.trigger_message = trigger
    for name, (value, secret) in env.items():
        run.spec.runtime_env[name].CopyFrom(execution_context_pb2.ExecutionValue(value=value, is_secret=secret))
    return run


async def test_a_combined_document_runs_through_execute_workflow(harness: Harness) -> None:
    """set → switch → HTTP call → agent call → output, as the README's tour runs it."""
    harness.server.add_agent("writer", "agt_writer")
    harness.server.add_workflow("wfl_tour", [
        task("prepare", "SET", {"variables": {"city": "${ .city }", "budget": "${ .budget }"}}),
        task("route", "SWITCH", {"cases": [{"name": "cheap", "when": "${ .budget < 100 }", "then": "hostels"},
                                           {"name": "default", "then": "hotels"}]}),
        task("hostels", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/hostels"}},
             export={"as": "{stay: .path}"}, flow={"then": "write"}),
        task("hotels", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/hotels"}},
             export={"as": "{stay: .path}"}),
        task("write", "AGENT_CALL", {"agent": "writer", "message": "${ \"Plan \" + $data.city + \" via \" + $context.stay }"}),
        task("answer", "SET", {"variables": {"plan": "${ . }", "key_used": "${ $secrets.KEY | length }"}}),
    ], instance_id="wfi_tour")
    run = execution("wex_tour", "wfi_tour", '{"city": "Lisbon", "budget": 50}', KEY=("k-123", True))
    async with harness.runner():
        invoke = await harness.start_execution(run)
        await harness.server.wait_for(lambda: harness.server.recorded.agent_executions)
        created = harness.server.recorded.agent_executions[0]
        assert created.spec.message == "Plan Lisbon via /hostels"
        finished = agent_execution_pb2.AgentExecution()
        finished.CopyFrom(created)
        finished.status.phase = agent_enum_pb2.EXECUTION_COMPLETED
        finished.status.messages.add(type=agent_enum_pb2.MESSAGE_AI, content="Stay at a hostel.")
        await harness.client.get_async_activity_handle(task_token=created.spec.callback_token).complete(finished)
        status = await invoke.result()
    assert status.phase == enum_pb2.EXECUTION_COMPLETED
    assert json_format.MessageToDict(status.output) == {"plan": "Stay at a hostel.", "key_used": 5}
    assert status.started_at and status.completed_at and not status.temporal_workflow_id  # the server's to set
    phases = harness.server.phases_of("wex_tour")
    assert phases[0] == enum_pb2.EXECUTION_IN_PROGRESS and phases[-1] == enum_pb2.EXECUTION_COMPLETED
    assert_each_task_started_then_ended(harness.server, "wex_tour")
    reports = by_name(harness.server, "wex_tour")
    assert set(reports) == {"prepare", "route", "hostels", "write", "answer"}  # hotels skipped
    assert all(len(r) == 2 for r in reports.values())  # one before, one after each task
    assert harness.endpoint.calls == {"/hostels": 1}


async def test_execute_workflow_fails_with_the_documents_error(harness: Harness) -> None:
    harness.server.add_workflow("wfl_bad", [task("stop", "RAISE", {"error": "runtime", "message": "no way"})],
                                instance_id="wfi_bad")
    async with harness.runner():
        status = await (await harness.start_execution(execution("wex_bad", "wfi_bad"))).result()
    assert status.phase == enum_pb2.EXECUTION_FAILED
    assert "no way" in status.error
    assert harness.server.phases_of("wex_bad")[-1] == enum_pb2.EXECUTION_FAILED


async def test_environments_and_runtime_env_reach_tasks_and_secrets_stay_out_of_the_status(harness: Harness) -> None:
    harness.server.add_environment("base", {"REGION": ("eu", False), "TOKEN": ("env-secret", True), "TIER": ("free", False)})
    harness.server.add_environment("paid", {"TIER": ("paid", False)})
    harness.server.add_workflow("wfl_env", [
        task("show", "SET", {"variables": {"region": "${ $env.REGION }", "tier": "${ $env.TIER }",
                                           "token": "${ $secrets.TOKEN }", "user": "${ $env.USER }"}}),
    ], instance_id="wfi_env", env_refs=("base", "paid"))
    run = execution("wex_env", "wfi_env", USER=("ada", False), TOKEN=("run-secret", True))
    async with harness.runner():
        status = await (await harness.start_execution(run)).result()
    assert status.phase == enum_pb2.EXECUTION_COMPLETED, status.error
    assert json_format.MessageToDict(status.output) == {"region": "eu", "tier": "paid", "token": REDACTED, "user": "ada"}
    assert all("secret" not in str(s) for _, s in harness.server.recorded.updates)


async def test_execute_workflow_fails_when_an_environment_is_missing(harness: Harness) -> None:
    harness.server.add_workflow("wfl_noenv", [task("a", "SET", {"variables": {"x": "1"}})],
                                instance_id="wfi_noenv", env_refs=("gone",))
    async with harness.runner():
        status = await (await harness.start_execution(execution("wex_noenv", "wfi_noenv"))).result()
    assert status.phase == enum_pb2.EXECUTION_FAILED
    assert "environment 'gone'" in status.error


async def test_execute_workflow_fails_when_the_instance_is_unknown(harness: Harness) -> None:
    async with harness.runner():
        status = await (await harness.start_execution(execution("wex_lost", "wfi_missing"))).result()
    assert status.phase == enum_pb2.EXECUTION_FAILED
    assert "wfi_missing" in status.error


async def test_a_runner_stopped_mid_document_resumes_without_repeating_finished_tasks(harness: Harness) -> None:
    harness.server.add_workflow("wfl_resume", [
        task("count", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/count"}}),
        task("hold", "LISTEN", {"to": {"mode": "one", "signals": [{"id": "go"}]}}),
        task("done", "SET", {"variables": {"after": "${ $data.count.calls }"}}),
    ], instance_id="wfi_resume")
    server = harness.server

    def hold_started() -> bool:
        return any(t.task_name == "hold" for t in server.tasks_of("wex_resume"))

    async with harness.runner():
        invoke = await harness.start_execution(execution("wex_resume", "wfi_resume"))
        await server.wait_for(hold_started)
    # The first runner is gone; a new one (new workers, empty caches) takes over.
    document = harness.client.get_workflow_handle("workflow-exec-wex_resume")
    assert (await document.describe()).status == WorkflowExecutionStatus.RUNNING
    async with harness.runner():
        await document.signal("go", True)
        status = await invoke.result()
    assert status.phase == enum_pb2.EXECUTION_COMPLETED
    assert json_format.MessageToDict(status.output)["after"] == 1
    assert harness.endpoint.calls["/count"] == 1
    count_reports = [t for t in server.tasks_of("wex_resume") if t.task_name == "count"]
    assert len(count_reports) == 2  # reported once before and once after, never again


async def test_a_runner_process_killed_mid_document_resumes_in_a_new_process(harness: Harness, tmp_path: Path) -> None:
    """SIGKILL, no goodbye: the server notices by heartbeat timeout and retries
    ExecuteWorkflow on another runner process, which attaches to the same document."""
    harness.server.add_workflow("wfl_kill", [
        task("count", "HTTP_CALL", {"method": "GET", "endpoint": {"uri": f"{harness.endpoint.base_url}/count"}}),
        task("hold", "WAIT", {"seconds": 1}),
        task("listen", "LISTEN", {"to": {"signals": [{"id": "go"}]}}),
        task("done", "SET", {"variables": {"calls": "${ $data.count.calls }"}}),
    ], instance_id="wfi_kill")
    settings = harness.settings
    env = {**os.environ, "TEMPORAL_ADDRESS": settings.temporal_address, "SERVER_GRPC_TARGET": settings.server_grpc_target,
           "TEMPORAL_WORKFLOW_EXECUTION_RUNNER_TASK_QUEUE": settings.workflow_execution_runner_task_queue,
           "TEMPORAL_WORKFLOW_VALIDATION_RUNNER_TASK_QUEUE": settings.workflow_validation_runner_task_queue,
           "TEMPORAL_ZIGFLOW_EXECUTION_TASK_QUEUE": settings.workflow_document_task_queue,
           "HEARTBEAT_INTERVAL_SECONDS": "0.5", "WORKFLOW_HTTP_HOSTS": settings.workflow_http_hosts}
    first = spawn("workflow-runner", env, tmp_path / "first.log")
    try:
        invoke = await harness.start_execution(execution("wex_kill", "wfi_kill"))
        await harness.server.wait_for(
            lambda: any(t.task_name == "listen" for t in harness.server.tasks_of("wex_kill")))
    finally:
        first.kill()
        first.wait(timeout=30)
    second = spawn("workflow-runner", env, tmp_path / "second.log")
    try:
        await harness.client.get_workflow_handle("workflow-exec-wex_kill").signal("go", True)
        status = await invoke.result()
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert status.phase == enum_pb2.EXECUTION_COMPLETED, status.error
    assert json_format.MessageToDict(status.output)["calls"] == 1
    assert harness.endpoint.calls["/count"] == 1  # the finished call was not made again
    assert_each_task_started_then_ended(harness.server, "wex_kill", repeats=True)


async def test_a_document_whose_execute_workflow_attempt_died_still_ends_the_execution(harness: Harness) -> None:
    """The server's invoke workflow makes one attempt: when the runner holding it dies, the
    document (resumed by another runner) sends the execution's final status itself."""
    harness.server.add_workflow("wfl_orphan", [
        task("hold", "LISTEN", {"to": {"signals": [{"id": "go"}]}}),
        task("done", "SET", {"variables": {"finished": True}}),
    ], instance_id="wfi_orphan")
    server = harness.server
    async with harness.runner():
        invoke = await harness.start_execution(execution("wex_orphan", "wfi_orphan"), attempts=1)
        await server.wait_for(lambda: server.tasks_of("wex_orphan"))
    with pytest.raises(WorkflowFailureError):  # its only attempt went with the runner
        await invoke.result()
    async with harness.runner():
        await harness.client.get_workflow_handle("workflow-exec-wex_orphan").signal("go", True)
        await server.wait_for(lambda: enum_pb2.EXECUTION_COMPLETED in server.phases_of("wex_orphan"))
    (final,) = [s for eid, s in server.recorded.updates if eid == "wex_orphan" and s.phase == enum_pb2.EXECUTION_COMPLETED]
    assert json_format.MessageToDict(final.output) == {"go": True, "finished": True}
    assert final.started_at and final.completed_at


async def test_cancelling_the_execution_cancels_the_document(harness: Harness) -> None:
    harness.server.add_workflow("wfl_long", [task("nap", "WAIT", {"seconds": 3600})], instance_id="wfi_long")
    async with harness.runner():
        invoke = await harness.start_execution(execution("wex_long", "wfi_long"))
        await harness.server.wait_for(lambda: harness.server.tasks_of("wex_long"))
        await invoke.cancel()
        with pytest.raises(WorkflowFailureError):
            await invoke.result()
        document = harness.client.get_workflow_handle("workflow-exec-wex_long")
        with pytest.raises(WorkflowFailureError):
            await document.result()
        assert (await document.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_validate_workflow_runs_on_the_validation_queue(harness: Harness) -> None:
    spec = spec_pb2.WorkflowSpec()
    json_format.ParseDict({"document": {"dsl": "1.0.0", "name": "x"}, "tasks": [
        task("a", "SET", {"variables": {"x": "${ .a + }"}}, flow={"then": "nowhere"}),
    ]}, spec)
    async with harness.runner():
        result = await harness.client.execute_workflow(
            ValidateStandIn.run, spec, id=f"validate-{uuid.uuid4().hex[:8]}", task_queue=harness.server_queue,
            memo={"activityTaskQueue": harness.settings.workflow_validation_runner_task_queue},
        )
    assert result.state == validation_pb2.INVALID
    assert any("nowhere" in e for e in result.errors)
    assert any("does not compile" in e for e in result.errors)

