"""The CPU floors under the service's cost per run: what Temporal and gRPC take by
themselves, measured on this machine with nothing of the service in the way, so a reader
of `python -m bench peer`'s "server CPU per run" can see which part of it is inherent.

* `temporal_per_run`: CPU per workflow of the embedded Temporal dev server (`temporal_ms`,
  the server in `dev` and in `bench peer`) and of this process (`worker_ms`: the client
  starting each workflow, the workflow worker and the activity worker), for workflows
  whose activities do nothing and return a few bytes:
  - `invoke_shape`: the shape of `InvokeAgentExecutionWorkflow` (workflows/workflow.py):
    a local activity, two activities on another task queue (as EnsureThread and
    ExecuteGraphton on the runner queue, with the same timeouts and retry policies; the
    second has a heartbeat timeout and heartbeats once), a local activity, done; started
    with the same memo. Whatever the service does around a run, Temporal spends this on it.
  - `one_activity`: one activity, the least any durable run costs Temporal.
  Each batch waits for its workflows to close (one `result()` each, which serve never
  asks for); that check's cost, taken again on the closed workflows, is subtracted.
  `temporal_idle_ms_per_s`: the dev server's CPU with both workers polling and nothing
  to do; each batch's figure includes its wall time of it (`temporal_ms_less_idle` not).
* `grpc_stream_message`: CPU per message at each end of a grpc.aio bidirectional stream,
  the runner's `streamStatusPatches` line without the service: each message a real
  `AgentExecutionStatusPatch` (one token appended), each answer an
  `AgentExecutionStatusPatchResult`, one in flight (write, read the answer, next), the
  messages built beforehand. The server is a bare generic handler in a child process on
  uvloop (as `serve`), the client this process on the standard loop (as the runner). Every
  patch a run streams costs at least this at each end. `grpc_unary_message`: the same
  messages as one unary call each (`applyStatusPatch`), for comparison.

Each figure is the median of a few interleaved rounds; the machine's other load falls on
all of them alike, but they stay noisy.

    python -m bench floors [--workflows 60 --concurrency 10 --messages 5000 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from ai.stigmer.agentic.agentexecution.v1 import patch_pb2
from bench.proc_tree import cpu_seconds, tree_cpu
from devtools.embedded import EmbeddedServices, die_with_parent
from devtools.stack import stop_process
from domain.workflow_contract import MEMO_RUNNER_TASK_QUEUE, MEMO_TIMEOUTS, WorkflowTimeouts
from runner.service_client import APPLY_STATUS_PATCH, STREAM_STATUS_PATCHES, patch_message
from workflows.workflow import DURABLE_WRITE, ensure_thread_options, execute_graphton_options

WORKFLOW_QUEUE = "floors-workflows"
ACTIVITY_QUEUE = "floors-activities"  # the runner queue's stand-in
TIMEOUTS = WorkflowTimeouts()
IDLE_SECONDS = 3.0
WARM_UP_MESSAGES = 300


# --------------------------------------------------------------------------- Temporal


class Finishes:
    """A future per workflow, resolved by its last activity: how a batch keeps
    `concurrency` workflows in flight without asking Temporal."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[None]] = {}

    def expect(self, workflow_id: str) -> asyncio.Future[None]:
        future = self._futures[workflow_id] = asyncio.get_running_loop().create_future()
        return future

    def reached(self) -> None:
        future = self._futures.pop(activity.info().workflow_id or "", None)
        if future is not None and not future.done():
            future.set_result(None)


FINISHES = Finishes()


@activity.defn(name="FloorsWriteStatus")
async def write_status(execution_id: str, phase: str) -> str:
    """The local activities: UpdateExecutionStatus's stand-in."""
    if phase == "final":
        FINISHES.reached()
    return phase


@activity.defn(name="FloorsEnsureThread")
async def ensure_thread(session_id: str, agent_id: str) -> str:
    return "thr_floors"


@activity.defn(name="FloorsExecute")
async def execute(execution_id: str, thread_id: str) -> str:
    activity.heartbeat()
    return "EXECUTION_COMPLETED"


@activity.defn(name="FloorsOnly")
async def only_activity(execution_id: str) -> str:
    FINISHES.reached()
    return "done"


@workflow.defn(name="FloorsInvokeShape", sandboxed=False)
class InvokeShape:
    """InvokeAgentExecutionWorkflow's steps, options and memo, with no-op activities."""

    @workflow.run
    async def run(self, execution_id: str) -> str:
        queue = workflow.memo_value(MEMO_RUNNER_TASK_QUEUE, ACTIVITY_QUEUE, type_hint=str)
        timeouts = workflow.memo_value(MEMO_TIMEOUTS, WorkflowTimeouts(), type_hint=WorkflowTimeouts)
        await workflow.execute_local_activity(write_status, args=[execution_id, "in_progress"], **DURABLE_WRITE)
        thread_id = await workflow.execute_activity(
            ensure_thread, args=["ses_floors", "agt_floors"], **ensure_thread_options(timeouts, queue)
        )
        phase = await workflow.execute_activity(
            execute, args=[execution_id, thread_id], **execute_graphton_options(timeouts, queue)
        )
        # Shielded, as the real final write (no cost to Temporal).
        await asyncio.shield(
            workflow.execute_local_activity(write_status, args=[execution_id, "final"], **DURABLE_WRITE)
        )
        return phase


@workflow.defn(name="FloorsOneActivity", sandboxed=False)
class OneActivity:
    @workflow.run
    async def run(self, execution_id: str) -> str:
        return await workflow.execute_activity(
            only_activity, execution_id, task_queue=ACTIVITY_QUEUE, start_to_close_timeout=timedelta(seconds=30)
        )


SHAPES: dict[str, Any] = {"invoke_shape": InvokeShape.run, "one_activity": OneActivity.run}


class Meter:
    """CPU seconds of the Temporal server's tree and of this process, and wall time."""

    def __init__(self, temporal_pid: int) -> None:
        self._roots = {"temporal": temporal_pid}

    def read(self) -> tuple[float, float, float]:
        return tree_cpu(self._roots)["temporal"], time.process_time(), time.perf_counter()


async def batch(client: Client, meter: Meter, shape: str, workflows: int, concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    handles: list[WorkflowHandle[Any, str]] = []

    async def one() -> None:
        async with gate:
            workflow_id = f"floors/{shape}/{uuid.uuid4().hex}"
            finished = FINISHES.expect(workflow_id)
            handles.append(await client.start_workflow(
                SHAPES[shape], f"aex_{workflow_id[-16:]}", id=workflow_id, task_queue=WORKFLOW_QUEUE,
                memo={MEMO_RUNNER_TASK_QUEUE: ACTIVITY_QUEUE, MEMO_TIMEOUTS: dataclasses.asdict(TIMEOUTS)},
            ))
            await finished

    temporal, own, wall = meter.read()
    await asyncio.gather(*(one() for _ in range(workflows)))
    await asyncio.gather(*(h.result() for h in handles))  # closed, every one
    temporal_run, own_run, wall_run = meter.read()
    await asyncio.gather(*(h.result() for h in handles))  # the same check again: its cost
    temporal_check, own_check, _ = meter.read()
    return {
        "temporal_s": (temporal_run - temporal) - (temporal_check - temporal_run),
        "worker_s": (own_run - own) - (own_check - own_run),
        "check_temporal_s": temporal_check - temporal_run,
        "wall_s": wall_run - wall,
    }


async def temporal_floors(workflows: int, concurrency: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="stigmer-floors-") as data_dir:
        # Temporal only: a MongoDB or Redis address given counts as "already running".
        services = EmbeddedServices(Path(data_dir), persistent=False, mongodb_uri="unused", redis_url="unused",
                                    log=lambda message: None)
        endpoints = services.start()
        try:
            client = await Client.connect(endpoints.temporal_address)
            meter = Meter(services.pids["temporal"])
            async with (
                Worker(client, task_queue=WORKFLOW_QUEUE, workflows=[InvokeShape, OneActivity],
                       activities=[write_status]),
                Worker(client, task_queue=ACTIVITY_QUEUE, activities=[ensure_thread, execute, only_activity],
                       max_heartbeat_throttle_interval=timedelta(seconds=1),
                       default_heartbeat_throttle_interval=timedelta(seconds=1)),
            ):
                for shape in SHAPES:  # warm-up: caches, first connections
                    await batch(client, meter, shape, concurrency, concurrency)
                temporal, _, wall = meter.read()
                await asyncio.sleep(IDLE_SECONDS)  # the measuring window, nothing to wait for
                temporal_after, _, wall_after = meter.read()
                idle_per_s = (temporal_after - temporal) / (wall_after - wall)
                results: dict[str, list[dict[str, float]]] = {shape: [] for shape in SHAPES}
                for r in range(rounds):
                    for shape in list(SHAPES)[r % 2:] + list(SHAPES)[:r % 2]:  # alternate the order
                        results[shape].append(await batch(client, meter, shape, workflows, concurrency))
        finally:
            services.stop()

    def per_workflow(shape: str, figure: Callable[[dict[str, float]], float]) -> float:
        return round(statistics.median(figure(x) for x in results[shape]) / workflows * 1000, 2)

    return {
        "workload": {"workflows": workflows, "concurrency": concurrency, "rounds": rounds},
        "temporal_idle_ms_per_s": round(idle_per_s * 1000, 1),
        **{shape: {
            "temporal_ms": per_workflow(shape, lambda x: x["temporal_s"]),
            "temporal_ms_less_idle": per_workflow(shape, lambda x: x["temporal_s"] - idle_per_s * x["wall_s"]),
            "worker_ms": per_workflow(shape, lambda x: x["worker_s"]),
            "temporal_ms_by_round": [round(x["temporal_s"] / workflows * 1000, 2) for x in results[shape]],
            "result_check_temporal_ms": per_workflow(shape, lambda x: x["check_temporal_s"]),
            "workflows_per_s": round(statistics.median(workflows / x["wall_s"] for x in results[shape]), 1),
        } for shape in SHAPES},
    }


# --------------------------------------------------------------------------- gRPC


def _method(path: str) -> tuple[str, str]:
    """'/package.Service/method' → ('package.Service', 'method')."""
    service, method = path.lstrip("/").split("/")
    return service, method


async def serve_patches() -> None:
    """A bare gRPC server for the two patch methods: answers each patch at once."""

    async def stream(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        version = 0
        async for patch in requests:
            version += 1
            yield patch_pb2.AgentExecutionStatusPatchResult(applied=True, version=version,
                                                            stored_sequence=patch.sequence)

    async def unary(patch: patch_pb2.AgentExecutionStatusPatch,
                    context: grpc.aio.ServicerContext[Any, Any]) -> patch_pb2.AgentExecutionStatusPatchResult:
        return patch_pb2.AgentExecutionStatusPatchResult(applied=True, version=patch.sequence,
                                                         stored_sequence=patch.sequence)

    codec: dict[str, Any] = {
        "request_deserializer": patch_pb2.AgentExecutionStatusPatch.FromString,
        "response_serializer": patch_pb2.AgentExecutionStatusPatchResult.SerializeToString,
    }
    service, stream_name = _method(STREAM_STATUS_PATCHES)
    handlers = {stream_name: grpc.stream_stream_rpc_method_handler(stream, **codec),
                _method(APPLY_STATUS_PATCH)[1]: grpc.unary_unary_rpc_method_handler(unary, **codec)}
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)  # the parent reads it
    await server.wait_for_termination()


def patches(count: int) -> list[patch_pb2.AgentExecutionStatusPatch]:
    """A run's worth of single-token appends, as the runner's channel builds them."""
    return [patch_message("aex_01jfloors000000000000", sequence,
                          [{"append_text": {"index": 1, "offset": 6 * sequence, "text": f" tok{sequence % 10:02d}"}}])
            for sequence in range(1, count + 1)]


async def on_stream(channel: grpc.aio.Channel, messages: list[patch_pb2.AgentExecutionStatusPatch]) -> None:
    call = channel.stream_stream(
        STREAM_STATUS_PATCHES, request_serializer=patch_pb2.AgentExecutionStatusPatch.SerializeToString,
        response_deserializer=patch_pb2.AgentExecutionStatusPatchResult.FromString,
    )()  # type: ignore[call-arg]  # no request iterator: written to and read from in turn
    for message in messages:
        await call.write(message)
        answer = await call.read()
        assert isinstance(answer, patch_pb2.AgentExecutionStatusPatchResult) and answer.applied
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def unary_calls(channel: grpc.aio.Channel, messages: list[patch_pb2.AgentExecutionStatusPatch]) -> None:
    call = channel.unary_unary(
        APPLY_STATUS_PATCH, request_serializer=patch_pb2.AgentExecutionStatusPatch.SerializeToString,
        response_deserializer=patch_pb2.AgentExecutionStatusPatchResult.FromString,
    )
    for message in messages:
        answer = await call(message)
        assert answer.applied


async def grpc_rounds(server_pid: int, port: int, messages: int, rounds: int) -> dict[str, Any]:
    ways: dict[str, Callable[[grpc.aio.Channel, list[patch_pb2.AgentExecutionStatusPatch]], Awaitable[None]]] = {
        "grpc_stream_message": on_stream, "grpc_unary_message": unary_calls}
    batch = patches(messages)
    results: dict[str, list[tuple[float, float, float]]] = {way: [] for way in ways}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        for send in ways.values():  # warm-up
            await send(channel, batch[:WARM_UP_MESSAGES])
        for r in range(rounds):
            for way in list(ways)[r % 2:] + list(ways)[:r % 2]:
                server, client, wall = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
                await ways[way](channel, batch)
                results[way].append((time.process_time() - client, cpu_seconds(server_pid) - server,
                                     time.perf_counter() - wall))

    def median(way: str, index: int) -> float:
        return statistics.median(x[index] for x in results[way])

    return {way: {
        "client_cpu_us": round(median(way, 0) / messages * 1e6, 1),
        "server_cpu_us": round(median(way, 1) / messages * 1e6, 1),
        "messages_per_s": round(messages / median(way, 2)),
        "client_cpu_us_by_round": [round(x[0] / messages * 1e6, 1) for x in results[way]],
        "server_cpu_us_by_round": [round(x[1] / messages * 1e6, 1) for x in results[way]],
    } for way in ways}


def grpc_floors(messages: int, rounds: int) -> dict[str, Any]:
    server = subprocess.Popen([sys.executable, "-m", "bench", "floors", "--grpc-server"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, preexec_fn=die_with_parent())
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # its port, once it serves
        if not line.strip():
            raise RuntimeError(f"the gRPC server child exited ({server.wait()}) before serving")
        # The client on the standard loop, as the runner's.
        return {"grpc_workload": {"messages": messages, "rounds": rounds, "in_flight": 1,
                                  "patch_bytes": patches(1)[0].ByteSize()},
                **asyncio.run(grpc_rounds(server.pid, int(line), messages, rounds))}
    finally:
        stop_process(server)


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench floors", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=60, help="workflows per shape per round")
    parser.add_argument("--concurrency", type=int, default=10, help="workflows in flight at once")
    parser.add_argument("--messages", type=int, default=5000, help="gRPC messages per way per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grpc-server", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    import uvloop  # serve's and the worker's loop

    if args.grpc_server:
        uvloop.run(serve_patches())
        return {}
    # Temporal first: its children start before this process has used gRPC (at-fork handlers).
    report = {
        "benchmark": "floors",
        "temporal_per_run": uvloop.run(temporal_floors(args.workflows, args.concurrency, args.rounds)),
        **grpc_floors(args.messages, args.rounds),
    }
    print(json.dumps(report, indent=2), flush=True)
    return report
