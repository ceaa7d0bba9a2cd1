"""The runner's own CPU per run, and the part of it that status sending takes, with no
network and no other process: the real engine (LangGraph, the scripted model of
`bench peer`: plan, tool, sub-agent, 200 answer tokens at 5 ms) streams into a
StatusBuilder, and a StatusSender sends to a stand-in server in this process that
builds each patch's message and serializes it, as the gRPC channel does, then applies
it (so acknowledgements are instant and correct).

Three ways, interleaved in rounds in one process so the machine's other load falls on
all of them alike:

* `changes`: the builder hands its streamed text over as changes (`take_changes`);
* `snapshots`: the same builder seen only through `snapshot()`, so every send diffs a
  whole snapshot against the acknowledged status (how the runner sent before);
* `engine_only`: no sender; what the run costs without status.

    python -m bench runner_status [--runs 20 --concurrency 10 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, io_pb2, patch_pb2
from domain.convert import to_json
from domain.status_changes import Change, apply_changes, diff_status
from infra.settings import Settings
from runner.engine import run_agent
from runner.service_client import patch_message
from runner.status_builder import StatusBuilder
from runner.status_sender import StatusSender
from runner.types import AgentConfig, AgentRunRequest, SubAgentConfig

SETTINGS = Settings(scripted_token_delay_ms=5, scripted_step_delay_ms=100, default_model="scripted")
INTERVAL = 0.03  # UPDATE_INTERVAL_MS's default


class StandInServer:
    """Takes what the gRPC channel would send: builds and serializes the messages, then
    applies them to the status it holds."""

    incremental = True

    def __init__(self) -> None:
        self.status: dict = {}
        self.sends = 0

    async def send_changes(self, changes: list[Change], sequence: int) -> patch_pb2.AgentExecutionStatusPatchResult:
        patch_message("aex_bench", sequence, changes).SerializeToString()
        self.status = apply_changes(self.status, changes)
        self.sends += 1
        return patch_pb2.AgentExecutionStatusPatchResult(applied=True, stored_sequence=sequence)

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        io_pb2.AgentExecutionUpdateStatusInput(execution_id="aex_bench", status=status).SerializeToString()
        self.status = apply_changes(self.status, diff_status(self.status, to_json(status)))
        self.sends += 1


class SnapshotsOnly:
    """A builder seen only through `snapshot()` and `on_change()`."""

    def __init__(self, builder: StatusBuilder) -> None:
        self.snapshot = builder.snapshot
        self.on_change = builder.on_change


def request(label: str) -> AgentRunRequest:
    agent = AgentConfig(name="bench", instructions="You help people with their questions.",
                        tools=["word_count"], sub_agents=[SubAgentConfig("researcher", "Look things up.")])
    return AgentRunRequest(execution_id="aex_bench", session_id="ses_bench", thread_id="thr_bench",
                           message=label, model_name="scripted:200", agent=agent)


async def one_run(way: str, label: str) -> int:
    builder = StatusBuilder(label)
    server = StandInServer()
    sender = None
    if way != "engine_only":
        sender = StatusSender(server, INTERVAL, first_sequence=1)
        sender.start(builder if way == "changes" else SnapshotsOnly(builder))  # type: ignore[arg-type]
    builder.mark_in_progress()
    await run_agent(request(label), [], builder, settings=SETTINGS)
    builder.mark_completed()
    if sender is not None:
        assert await sender.close()
        assert server.status == to_json(builder.snapshot()), "the stand-in server's status differs"
    return server.sends


async def batch(way: str, runs: int, concurrency: int) -> dict:
    gate = asyncio.Semaphore(concurrency)
    sends: list[int] = []

    async def one(n: int) -> None:
        async with gate:
            sends.append(await one_run(way, f"run {n}"))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(runs)))
    return {"cpu_ms_per_run": (time.process_time() - cpu) / runs * 1000,
            "wall_s": time.perf_counter() - wall, "sends_per_run": statistics.mean(sends)}


async def measure(runs: int, concurrency: int, rounds: int) -> dict:
    ways = ("changes", "snapshots", "engine_only")
    await batch("changes", concurrency, concurrency)  # warm-up: imports, caches
    results: dict[str, list[dict]] = {way: [] for way in ways}
    for r in range(rounds):
        for way in ways[r % 3:] + ways[:r % 3]:  # rotate the order
            results[way].append(await batch(way, runs, concurrency))

    def median(way: str, key: str) -> float:
        return round(statistics.median(x[key] for x in results[way]), 1)

    cpu: Callable[[str], float] = lambda way: median(way, "cpu_ms_per_run")  # noqa: E731
    return {
        "benchmark": "runner_status",
        "workload": {"runs": runs, "concurrency": concurrency, "rounds": rounds, "tokens": 200,
                     "token_delay_ms": 5, "step_delay_ms": 100, "update_interval_ms": INTERVAL * 1000},
        "cpu_ms_per_run": {way: cpu(way) for way in ways},
        "cpu_ms_per_run_by_round": {way: [round(x["cpu_ms_per_run"], 1) for x in results[way]] for way in ways},
        "status_cpu_ms_per_run": {way: round(cpu(way) - cpu("engine_only"), 1) for way in ways[:2]},
        "sends_per_run": {way: median(way, "sends_per_run") for way in ways[:2]},
    }


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench runner_status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args.runs, args.concurrency, args.rounds))
    print(json.dumps(report, indent=2), flush=True)
    return report
