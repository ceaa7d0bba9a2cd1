"""Growth: a run that adds one tool call (10 KB result) and one 2 KB message per step,
200 steps, one SSE watcher. The same run twice in one stack: whole statuses through
`updateStatus` (what Stigmer's runner sends; the server stores only the change) and
patches through `applyStatusPatch` (what our runner sends). Reported at steps 10, 100
and 200: the latency of one update (the median of the 5 updates up to that step), the
CPU per update (from /proc) of `serve` and of the MongoDB server, the bytes the watcher
has received; and the watcher's total bytes against the final document.

    python -m bench.status_growth
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import httpx

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from bench.harness import cpu_seconds, emit, running_stack
from domain import convert
from domain.status_changes import diff_status
from runner.service_client import GrpcStatusChannel, ServiceClient

STEPS = int(os.environ.get("GROWTH_STEPS", "200"))
MARKS = (10, STEPS // 2, STEPS)
TOOL_RESULT = "r" * 10_000
MESSAGE = "m" * 2_000


def status_after(step: int) -> api_pb2.AgentExecutionStatus:
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    for n in range(step):
        status.tool_calls.add(id=f"c{n}", name="lookup", status=enum_pb2.TOOL_CALL_COMPLETED, result=TOOL_RESULT)
        status.messages.add(type=enum_pb2.MESSAGE_AI, content=f"{n} {MESSAGE}")
    if step == STEPS:
        status.phase = enum_pb2.EXECUTION_COMPLETED
    return status


async def one_run(stack: Any, client: httpx.AsyncClient, agent_id: str, *, patches: bool) -> dict[str, Any]:
    body = (await client.post(f"{stack.http_url}/v1/agent-executions",
                              json={"spec": {"agent_id": agent_id, "message": "grow"}})).json()
    execution_id = body["metadata"]["id"]
    received = 0
    opened = asyncio.Event()

    async def watch() -> None:
        nonlocal received
        url = f"{stack.http_url}/v1/agent-executions/{execution_id}/subscribe"
        async with client.stream("GET", url) as response:
            opened.set()
            async for chunk in response.aiter_bytes():
                received += len(chunk)

    watcher = asyncio.create_task(watch())
    await opened.wait()
    service = ServiceClient(stack.grpc_target)
    channel = GrpcStatusChannel(service, execution_id)
    serve_pid, mongo_pid = stack.pids["serve"], stack.pids["mongodb"]
    previous: dict[str, Any] = {}
    marks: dict[int, dict[str, float]] = {}
    latencies: list[float] = []
    window_cpu, window_mongo_cpu, window_updates = cpu_seconds(serve_pid), cpu_seconds(mongo_pid), 0
    for step in range(1, STEPS + 1):
        status = status_after(step)
        started = time.perf_counter()
        if patches:
            current = convert.to_json(status)
            result = await channel.send_changes(diff_status(previous, current), step)
            assert result.applied, f"patch {step} not applied"
            previous = current
        else:
            await channel.send_whole(status, step)
        latencies.append(time.perf_counter() - started)
        window_updates += 1
        if step in MARKS:
            now_cpu, now_mongo_cpu = cpu_seconds(serve_pid), cpu_seconds(mongo_pid)
            marks[step] = {
                "update_ms": round(statistics.median(latencies[-5:]) * 1000, 2),
                "server_cpu_ms_per_update": round((now_cpu - window_cpu) / window_updates * 1000, 2),
                "mongodb_cpu_ms_per_update": round((now_mongo_cpu - window_mongo_cpu) / window_updates * 1000, 2),
                "sse_bytes_so_far": received,
            }
            window_cpu, window_mongo_cpu, window_updates = now_cpu, now_mongo_cpu, 0
    await asyncio.wait_for(watcher, 60)
    await service.close()
    stored = (await client.get(f"{stack.http_url}/v1/agent-executions/{execution_id}")).content
    return {
        "at_step": marks,
        "final_document_bytes": len(stored),
        "watcher_total_bytes": received,
        "watcher_bytes_over_document": round(received / len(stored), 2),
        "latency_step_200_over_step_10": round(marks[STEPS]["update_ms"] / max(marks[10]["update_ms"], 0.01), 2),
    }


async def main() -> None:
    with running_stack() as stack:
        async with httpx.AsyncClient(timeout=120) as client:
            agent = (await client.post(f"{stack.http_url}/v1/agents", json={
                "metadata": {"name": "growth"}, "spec": {"instructions": "Answer briefly and precisely."}})).json()
            whole = await one_run(stack, client, agent["metadata"]["id"], patches=False)
            incremental = await one_run(stack, client, agent["metadata"]["id"], patches=True)
    emit("status_growth", {
        "steps": STEPS,
        "added_per_step_bytes": len(TOOL_RESULT) + len(MESSAGE),
        "whole_status_updates": whole,
        "patches": incremental,
        "targets": {
            "patch_latency_step_200_within_2x_of_step_10": incremental["latency_step_200_over_step_10"] <= 2,
            "watcher_bytes_at_most_3x_document": incremental["watcher_bytes_over_document"] <= 3,
        },
    })


if __name__ == "__main__":
    asyncio.run(main())
