"""The update pipeline: K executions × M runner updates, an SSE watcher on each, sent
three ways: whole statuses over Stigmer's `updateStatus` (the server diffs them against
what is stored and answers with the whole execution), small patches over unary
`applyStatusPatch` (one call and one MongoDB write each), and the same patches on one
`streamStatusPatches` stream per execution (what our runner sends: published at once,
stored in batches). Baseline: the same single-document writes done directly on MongoDB.
The flat-out rates are taken in three interleaved rounds and the medians reported, since the load
generator, the server and MongoDB share the machine. Reported per way: updates/s,
update → SSE latency, cores used by each process, and serve's CPU per update.

    python -m bench.update_pipeline
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from pymongo import AsyncMongoClient, ReturnDocument

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from bench.harness import CpuMeter, emit, percentiles, running_stack, sse_events
from domain import convert
from runner.service_client import GrpcStatusChannel, ServiceClient

EXECUTIONS = 20
UPDATES_EACH = 100
PACED_RATE = 500  # updates/s in total, for the latency target
PACED_SECONDS = 4.0


def status_with(i: int) -> api_pb2.AgentExecutionStatus:
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    status.messages.add(type=enum_pb2.MESSAGE_AI, content=f"token {i} " * 8)
    return status


async def pipeline(
    stack, client: httpx.AsyncClient, agent_id: str, *, paced_rate: float | None, patches: bool = False,
    streaming: bool = False,
) -> dict:
    ids = []
    for _ in range(EXECUTIONS):
        body = (await client.post(f"{stack.http_url}/v1/agent-executions",
                                  json={"spec": {"agent_id": agent_id, "message": "bench"}})).json()
        ids.append(body["metadata"]["id"])
    sent_at: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    opened = [asyncio.Event() for _ in ids]

    async def watch(index: int, execution_id: str) -> None:
        async for event, event_id, _ in sse_events(client, f"{stack.http_url}/v1/agent-executions/{execution_id}/subscribe"):
            opened[index].set()
            if event in ("state", "patch") and (execution_id, int(event_id)) in sent_at:
                latencies.append(time.perf_counter() - sent_at[(execution_id, int(event_id))])

    watchers = [asyncio.create_task(watch(i, e)) for i, e in enumerate(ids)]
    for event in opened:
        await event.wait()
    services = [ServiceClient(stack.grpc_target) for _ in range(4)]
    updates_each = UPDATES_EACH if paced_rate is None else int(paced_rate * PACED_SECONDS / EXECUTIONS)
    per_execution_gap = 0 if paced_rate is None else EXECUTIONS / paced_rate

    async def drive(index: int, execution_id: str) -> None:
        service = services[index % len(services)]
        channel = GrpcStatusChannel(service, execution_id)
        channel.streaming = streaming
        text = ""
        start = time.perf_counter() + index * per_execution_gap / EXECUTIONS
        for i in range(updates_each):
            if per_execution_gap:
                await asyncio.sleep(max(0.0, start + i * per_execution_gap - time.perf_counter()))
            # The version this update will get is 2 + i (create = 1, updates in order).
            sent_at[(execution_id, 2 + i)] = time.perf_counter()
            final = i == updates_each - 1
            if patches:
                token = f"token {i} " * 8
                changes: list[dict] = [{"append_text": {"offset": len(text), "text": token}}]
                if i == 0:
                    changes = [{"set": {"phase": "EXECUTION_IN_PROGRESS"}},
                               {"put_message": {"message": {"type": "MESSAGE_AI", "content": token}}}]
                if final:
                    changes.append({"set": {"phase": "EXECUTION_COMPLETED"}})
                text += token
                assert (await channel.send_changes(changes, i + 1)).applied
                if final:
                    await channel.close()
                continue
            status = status_with(i)
            if final:
                status.phase = enum_pb2.EXECUTION_COMPLETED
            await service.update_status(execution_id, status, i + 1)

    started = time.perf_counter()
    with CpuMeter(stack.pids) as cpu:
        await asyncio.gather(*(drive(i, e) for i, e in enumerate(ids)))
    elapsed = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*watchers), 60)
    for service in services:
        await service.close()
    total = EXECUTIONS * updates_each
    serve_cpu_ms = cpu.cores_used["serve"] * elapsed * 1000 / total
    return {"updates": total, "updates_per_s": round(total / elapsed, 1), "update_to_sse": percentiles(latencies),
            "serve_cpu_ms_per_update": round(serve_cpu_ms, 3), "cores_used_by_process": cpu.cores_used}


async def raw_mongo_rate(uri: str) -> float:
    """The same single-document writes (one $set of the status + $inc version), direct."""
    client = AsyncMongoClient(uri)
    collection = client["bench_raw"]["docs"]
    await collection.drop()
    await collection.insert_many([{"_id": f"d{i}", "version": 1, "status_sequence": 0, "status": {}} for i in range(EXECUTIONS)])
    fields = {f"status.{k}": v for k, v in convert.status_fields_to_set(status_with(1)).items()}

    async def drive(i: int) -> None:
        for n in range(UPDATES_EACH):
            await collection.find_one_and_update(
                {"_id": f"d{i}", "status.phase": {"$nin": ["EXECUTION_COMPLETED"]}, "status_sequence": {"$lt": n + 1}},
                {"$set": {**fields, "status_sequence": n + 1}, "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
            )

    started = time.perf_counter()
    await asyncio.gather(*(drive(i) for i in range(EXECUTIONS)))
    elapsed = time.perf_counter() - started
    await client.close()
    return EXECUTIONS * UPDATES_EACH / elapsed


ROUNDS = 3  # raw, whole and patch rates interleaved; medians, as the machine is shared


def median_round(rounds: list[dict]) -> dict:
    return sorted(rounds, key=lambda r: r["updates_per_s"])[len(rounds) // 2]


async def main() -> None:
    with running_stack() as stack:
        async with httpx.AsyncClient(timeout=60) as client:
            agent = (await client.post(f"{stack.http_url}/v1/agents", json={"metadata": {"name": "bench"}, "spec": {"instructions": "Answer briefly and precisely."}})).json()
            agent_id = agent["metadata"]["id"]
            raws, wholes, patches, streams, whole_ratios, patch_ratios = [], [], [], [], [], []
            for _ in range(ROUNDS):
                raws.append(await raw_mongo_rate(stack.mongodb_uri))
                wholes.append(await pipeline(stack, client, agent_id, paced_rate=None))
                patches.append(await pipeline(stack, client, agent_id, paced_rate=None, patches=True))
                streams.append(await pipeline(stack, client, agent_id, paced_rate=None, patches=True, streaming=True))
                whole_ratios.append(wholes[-1]["updates_per_s"] / raws[-1])
                patch_ratios.append(patches[-1]["updates_per_s"] / raws[-1])
            paced = await pipeline(stack, client, agent_id, paced_rate=PACED_RATE)
            patch_paced = await pipeline(stack, client, agent_id, paced_rate=PACED_RATE, patches=True)
            stream_paced = await pipeline(stack, client, agent_id, paced_rate=PACED_RATE, patches=True, streaming=True)
    patch_ratio, patch_flat_out = statistics.median(patch_ratios), median_round(patches)
    stream_flat_out = median_round(streams)
    emit("update_pipeline", {
        "executions": EXECUTIONS,
        "rounds": ROUNDS,
        "raw_mongodb_updates_per_s": [round(r, 1) for r in raws],
        "whole_status": {
            "flat_out_median": median_round(wholes),
            "handler_vs_raw_ratio_median": round(statistics.median(whole_ratios), 3),
            "handler_vs_raw_ratio_by_round": [round(r, 3) for r in whole_ratios],
            f"paced_{PACED_RATE}_per_s": paced,
        },
        "patches": {
            "flat_out_median": patch_flat_out,
            "handler_vs_raw_ratio_median": round(patch_ratio, 3),
            "handler_vs_raw_ratio_by_round": [round(r, 3) for r in patch_ratios],
            "serve_cpu_ms_per_update_by_round": [r["serve_cpu_ms_per_update"] for r in patches],
            f"paced_{PACED_RATE}_per_s": patch_paced,
        },
        "patch_stream": {
            "flat_out_median": stream_flat_out,
            "serve_cpu_ms_per_update_by_round": [r["serve_cpu_ms_per_update"] for r in streams],
            f"paced_{PACED_RATE}_per_s": stream_paced,
        },
        "serve_cpu_per_update_stream_over_unary": round(
            stream_flat_out["serve_cpu_ms_per_update"] / patch_flat_out["serve_cpu_ms_per_update"], 2
        ),
        "targets": {
            "patch_serve_cpu_per_update_at_most_0.7ms": patch_flat_out["serve_cpu_ms_per_update"] <= 0.7,
            "patch_ratio_above_0.41": patch_ratio > 0.41,
            "p99_update_to_sse_at_500_per_s_under_25ms": patch_paced["update_to_sse"]["p99_ms"] <= 25,
        },
    })


if __name__ == "__main__":
    asyncio.run(main())
