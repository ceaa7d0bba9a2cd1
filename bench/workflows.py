"""The workflow runner: tasks per second, and how long after a task starts or ends the
server hears of it (per-task status latency, p50/p99).

`stigmer-service workflow-runner` runs as a child process against embedded Temporal; the
server is a recording `WorkflowExecutionCommandController` in this process. Figures:

* `status_latency`: receipt time − the report's time stamp (`started_at` of a started
  task, `completed_at` of a finished one). The stamp is the workflow's clock, which is
  the start of the workflow task the step runs in (deterministic time): exact for tasks
  behind an activity, each of which starts a workflow task of its own (`http`); for a
  run of workflow-only tasks (SET) in one workflow task it also counts the reports sent
  before it in that workflow task, so read `status_interval` there.
* `status_interval`: the gap between two consecutive receipts of one document — what one
  report costs the run end to end.

Documents, each run on its own and then several at once:

* `set` — SETS SET tasks, reported (two `updateStatus` per task);
* `set_unreported` — the same without reports: the baseline in the same run, what
  reporting costs;
* `http` — HTTP_CALLS HTTP calls to a local endpoint, reported;
* `concurrent` — CONCURRENT documents of SETS // CONCURRENT SET tasks at once.

    python -m bench workflows
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from temporalio.client import Client

from ai.stigmer.agentic.workflowexecution.v1 import (
    api_pb2 as execution_pb2,
    command_pb2 as execution_command_pb2,
)
from bench.harness import cpu_seconds, emit, percentiles
from devtools.embedded import EmbeddedServices
from devtools.stack import spawn
from wfrunner.contract import DOCUMENT_WORKFLOW, DocumentInput, DocumentResult, document_workflow_id

SETS = 200
HTTP_CALLS = 50
CONCURRENT = 10


class Recorder:
    """updateStatus: note when each task report arrived and how late."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.receipts: dict[str, list[float]] = {}

    async def update_status(self, request: Any, context: Any) -> execution_pb2.WorkflowExecution:
        received = time.time()
        self.receipts.setdefault(request.execution_id, []).append(received)
        for task in request.status.tasks:
            at = task.completed_at or task.started_at
            if at:
                sent = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
                self.latencies.setdefault(request.execution_id, []).append(received - sent)
        return execution_pb2.WorkflowExecution()

    def intervals(self, execution_id: str) -> list[float]:
        times = self.receipts.get(execution_id, [])
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    async def serve(self) -> tuple[grpc.aio.Server, str]:
        server = grpc.aio.server()
        method = grpc.unary_unary_rpc_method_handler(
            self.update_status,
            request_deserializer=execution_command_pb2.WorkflowExecutionUpdateStatusInput.FromString,
            response_serializer=execution_pb2.WorkflowExecution.SerializeToString,
        )
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "ai.stigmer.agentic.workflowexecution.v1.WorkflowExecutionCommandController", {"updateStatus": method})])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, f"127.0.0.1:{port}"


async def http_endpoint() -> tuple[asyncio.Server, str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readline():
            while await reader.readline() not in (b"\r\n", b""):
                pass
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def sets(count: int) -> list[dict[str, Any]]:
    """Each adds one to a counter: the data stays the same size along the run."""
    return [{"name": f"s{i}", "kind": "WORKFLOW_TASK_KIND_SET",
             "taskConfig": {"variables": {"count": "${ .count + 1 }", "last": f"s{i}"}}}
            for i in range(count)]


def calls(count: int, url: str) -> list[dict[str, Any]]:
    return [{"name": f"h{i}", "kind": "WORKFLOW_TASK_KIND_HTTP_CALL",
             "taskConfig": {"method": "GET", "endpoint": {"uri": f"{url}/item/{i}"}}} for i in range(count)]


async def run_documents(client: Client, documents: list[tuple[list[dict[str, Any]], bool]]) -> tuple[float, list[str]]:
    """Run documents at once; (seconds, their execution ids)."""
    ids = [f"wex_bench_{uuid.uuid4().hex[:10]}" for _ in documents]
    started = time.perf_counter()
    handles = [
        await client.start_workflow(
            DOCUMENT_WORKFLOW, DocumentInput(execution_id=eid, tasks=tasks, input={"count": 0}, report=report),
            id=document_workflow_id(eid), task_queue="zigflow_execution", result_type=DocumentResult,
        )
        for eid, (tasks, report) in zip(ids, documents, strict=True)
    ]
    await asyncio.gather(*(h.result() for h in handles))
    return time.perf_counter() - started, ids


async def main() -> None:
    recorder = Recorder()
    grpc_server, target = await recorder.serve()
    http_server, url = await http_endpoint()
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-wf-") as data, EmbeddedServices(
        Path(data), persistent=False, mongodb_uri="mongodb://unused:1", redis_url="redis://unused:1"
    ) as endpoints:
        env = {**os.environ, "TEMPORAL_ADDRESS": endpoints.temporal_address, "SERVER_GRPC_TARGET": target,
               "WORKFLOW_HTTP_HOSTS": "127.0.0.1"}  # the local endpoint
        runner = spawn("workflow-runner", env, Path(data) / "workflow-runner.log")
        try:
            client = await Client.connect(endpoints.temporal_address)
            await run_documents(client, [(sets(5), True)])  # warm-up: the runner is polling
            figures: dict[str, Any] = {}
            cpu_before = cpu_seconds(runner.pid)
            for name, documents, tasks in (
                ("set", [(sets(SETS), True)], SETS),
                ("set_unreported", [(sets(SETS), False)], SETS),
                ("http", [(calls(HTTP_CALLS, url), True)], HTTP_CALLS),
                ("concurrent", [(sets(SETS // CONCURRENT), True)] * CONCURRENT, SETS),
            ):
                cpu_start = cpu_seconds(runner.pid)
                seconds, ids = await run_documents(client, documents)
                latencies = [x for eid in ids for x in recorder.latencies.get(eid, [])]
                figures[name] = {
                    "tasks": tasks,
                    "documents": len(documents),
                    "seconds": round(seconds, 3),
                    "tasks_per_second": round(tasks / seconds, 1),
                    "runner_cpu_seconds": round(cpu_seconds(runner.pid) - cpu_start, 2),
                    "status_updates": len(latencies),
                    "status_latency": percentiles(latencies),
                    "status_interval": percentiles([x for eid in ids for x in recorder.intervals(eid)]),
                }
            figures["runner_cpu_seconds_total"] = round(cpu_seconds(runner.pid) - cpu_before, 2)
        finally:
            runner.terminate()
            runner.wait(timeout=15)
            http_server.close()
            await grpc_server.stop(grace=None)
    emit("workflows", {"cpu_count": os.cpu_count(), **figures})


if __name__ == "__main__":
    asyncio.run(main())
