"""Side by side: this service and LangGraph's dev server (`langgraph dev`, in-memory),
the same scripted agent on each, one system after the other on the same machine.

    python -m bench peer [--runs 30 --concurrency 10 --tokens 200 --token-delay-ms 5 ...]
    python -m bench peer --quick      # a short smoke run

Figures per system: executions/s, completion and first-SSE-event p50/p99, token produced →
client p50/p99 (each answer token carries the time it was made, see bench.timed_model),
server CPU per run by process tree, resident memory at idle by process, fan-out to N
watchers of one run (time to connect them, token → every watcher), and what a watcher that
joins a run late sees first. Ratios are service / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from bench import profiling
from bench.harness import percentiles
from bench.peer_systems import LangGraphDev, StigmerService, System
from bench.proc_tree import tree_cpu, tree_memory
from bench.raw_sse import RawSse
from bench.timed_model import token_clocks


@dataclasses.dataclass
class Workload:
    runs: int = 30
    concurrency: int = 10
    tokens: int = 200
    token_delay_ms: int = 5
    step_delay_ms: int = 100
    watchers: tuple[int, ...] = (200, 500)
    fanout_tokens: int = 200
    fanout_deadline_s: float = 120.0
    late_join_s: float = 1.0
    peer_jobs_per_worker: int = 10
    profile: bool = False


QUICK = {"runs": 4, "concurrency": 2, "tokens": 40, "watchers": (20,), "fanout_tokens": 40}


async def throughput(system: System, client: httpx.AsyncClient, w: Workload, profile: bool) -> dict:
    first_event, completion, token_latency, tokens_seen = [], [], [], []
    failed = 0
    gate = asyncio.Semaphore(w.concurrency)

    async def one(label: str) -> None:
        nonlocal failed
        async with gate:
            started = time.time()
            seen: set[bytes] = set()
            last = None
            async for name, raw, arrived in system.stream_new_run(client, label, w.tokens):
                if last is None:
                    first_event.append(arrived - started)
                for clock in token_clocks(raw):
                    if clock not in seen:
                        seen.add(clock)
                        token_latency.append(arrived - float(clock))
                last = (name, raw)
            completion.append(time.time() - started)
            tokens_seen.append(len(seen))
            failed += not system.succeeded(last)

    await one("warm-up")  # the first run pays for caches and imports
    first_event.clear(), completion.clear(), token_latency.clear(), tokens_seen.clear()
    failed = 0
    profiler = profiling.start(system.roots) if profile else None
    cpu_before = tree_cpu(system.roots)
    started = time.perf_counter()
    await asyncio.gather(*(one(f"run {i}") for i in range(w.runs)))
    elapsed = time.perf_counter() - started
    cpu_after = tree_cpu(system.roots)
    cpu_ms = {name: round((cpu_after[name] - cpu_before[name]) / w.runs * 1000, 1) for name in cpu_after}
    return {
        "executions_per_s": round(w.runs / elapsed, 2),
        "failed_runs": failed,
        "completion": percentiles(completion),
        "first_sse_event": percentiles(first_event),
        "token_to_client": percentiles(token_latency),
        "answer_tokens_seen_per_run": sorted(set(tokens_seen)),
        "server_cpu_ms_per_run": round(sum(cpu_ms.values()), 1),
        "server_cpu_ms_per_run_by_process": dict(sorted(cpu_ms.items(), key=lambda kv: -kv[1])),
        **({"profile": profiling.stop(profiler)} if profiler else {}),
    }


async def fan_out(system: System, client: httpx.AsyncClient, watchers: int, w: Workload) -> dict:
    """N watchers of one run: how long they take to connect, and how long each token takes
    to reach every one of them. The run's answer is held until all are connected."""
    url = urlparse(system.url)
    go = Path(tempfile.mkdtemp(prefix="bench-hold-")) / "go"
    path = await system.start_run(client, f"fan-out [hold:{go}]", w.fanout_tokens)
    gate = asyncio.Semaphore(100)  # connect in waves, as many clients arriving at once would

    async def connect() -> RawSse:
        async with gate:
            return await RawSse.connect(url.hostname, url.port, path)

    started = time.time()
    streams = await asyncio.gather(*(connect() for _ in range(watchers)))
    connected = time.time()
    go.touch()  # let the answer stream
    arrivals: dict[bytes, list[float]] = {}

    async def read(stream: RawSse) -> None:
        seen: set[bytes] = set()
        async for _, raw, arrived in stream.events():
            for clock in token_clocks(raw):
                if clock not in seen:
                    seen.add(clock)
                    arrivals.setdefault(clock, []).append(arrived)

    readers = [asyncio.create_task(read(s)) for s in streams]
    _, unfinished = await asyncio.wait(readers, timeout=w.fanout_deadline_s)
    for reader in unfinished:  # a watcher still behind at the deadline: what it has counts
        reader.cancel()
    for stream in streams:
        stream.close()
    after_connect = {c: times for c, times in arrivals.items() if float(c) >= connected}  # all, when held
    reached_all = [max(times) - float(c) for c, times in after_connect.items() if len(times) == watchers]
    each = [t - float(c) for c, times in after_connect.items() for t in times]
    return {
        "watchers": watchers,
        "connect_all_s": round(connected - started, 2),
        "tokens_after_connect": len(after_connect),
        "watchers_unfinished_at_deadline": len(unfinished),
        "tokens_missed_by_some_watcher": len(after_connect) - len(reached_all),
        "token_to_every_watcher": percentiles(reached_all),
        "token_to_each_watcher": percentiles(each),
    }


async def late_join(system: System, client: httpx.AsyncClient, w: Workload) -> dict:
    """A watcher that joins `late_join_s` into a run: what its first event holds, next to
    what a watcher there from the start had been sent by then."""
    url = urlparse(system.url)
    path = await system.start_run(client, "late join", w.tokens)
    created = time.time()
    on_time = await RawSse.connect(url.hostname, url.port, path)
    on_time_events: list[tuple[bytes, float]] = []

    async def follow() -> None:
        async for _, raw, arrived in on_time.events():
            on_time_events.append((raw, arrived))
        on_time.close()

    following = asyncio.create_task(follow())
    await asyncio.sleep(max(0.0, w.late_join_s - (time.time() - created)))  # the workload: join 1 s in
    joined = time.time()
    late = await RawSse.connect(url.hostname, url.port, path)
    first, seen_before_join = None, set()
    async for name, raw, arrived in late.events():
        if first is None:
            first = (name, raw, arrived)
        seen_before_join.update(c for c in token_clocks(raw) if float(c) < joined)
    late.close()
    await asyncio.wait_for(following, timeout=120)
    sent_before_join = [raw for raw, arrived in on_time_events if arrived < joined]
    made_before_join = {c for raw, _ in on_time_events for c in token_clocks(raw) if float(c) < joined}
    if first is None:
        return {"first_event": None}
    name, raw, arrived = first
    return {
        "joined_after_s": round(joined - created, 2),
        "on_time_watcher_events_before_join": len(sent_before_join),
        "answer_tokens_made_before_join": len(made_before_join),
        "first_event": name.decode(),
        "first_event_after_join_ms": round((arrived - joined) * 1000, 1),
        "first_event_bytes": len(raw),
        "answer_tokens_in_first_event": len(set(token_clocks(raw))),
        "answer_tokens_made_before_join_late_watcher_ever_saw": len(seen_before_join),
        "first_event_holds": [what for what, needle in _STEPS.items() if needle in raw],
    }


# What a first event can hold of a run so far: its steps, by a string each one carries.
_STEPS = {"plan": b"write_todos", "tool_result": b"words", "sub_agent": b"researcher", "answer_text": b"[t="}


async def measure(system: System, w: Workload) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        await system.prepare(client)
        figures = {"throughput": await throughput(system, client, w, w.profile)}
        figures["late_join"] = await late_join(system, client, w)
        figures["fan_out"] = [await fan_out(system, client, n, w) for n in w.watchers]
    return figures


def run_system(system: System, w: Workload) -> dict:
    with system.running():
        memory = tree_memory(system.roots)  # idle, just after start-up
        return {"idle_memory": memory, **asyncio.run(measure(system, w))}


def ratios(ours: dict, peer: dict) -> dict:
    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if b else None

    t, pt = ours["throughput"], peer["throughput"]
    out = {
        "executions_per_s": ratio(t["executions_per_s"], pt["executions_per_s"]),
        "completion_p50": ratio(t["completion"]["p50_ms"], pt["completion"]["p50_ms"]),
        "first_sse_event_p50": ratio(t["first_sse_event"]["p50_ms"], pt["first_sse_event"]["p50_ms"]),
        "token_to_client_p50": ratio(t["token_to_client"]["p50_ms"], pt["token_to_client"]["p50_ms"]),
        "token_to_client_p99": ratio(t["token_to_client"]["p99_ms"], pt["token_to_client"]["p99_ms"]),
        "server_cpu_per_run": ratio(t["server_cpu_ms_per_run"], pt["server_cpu_ms_per_run"]),
        # The MongoDB stand-in is a Python server: its CPU is the stand-in's, not mongod's.
        "server_cpu_per_run_without_mongodb_stand_in": ratio(
            t["server_cpu_ms_per_run"] - t["server_cpu_ms_per_run_by_process"].get("mongodb", 0.0),
            pt["server_cpu_ms_per_run"]),
        "idle_memory": ratio(ours["idle_memory"]["total_rss_mib"], peer["idle_memory"]["total_rss_mib"]),
    }
    for f, pf in zip(ours["fan_out"], peer["fan_out"], strict=False):
        n = f["watchers"]
        out[f"fan_out_{n}_token_to_every_watcher_p50"] = ratio(f["token_to_every_watcher"]["p50_ms"],
                                                                pf["token_to_every_watcher"]["p50_ms"])
        out[f"fan_out_{n}_connect_all"] = ratio(f["connect_all_s"], pf["connect_all_s"])
    return out


def parse(argv: list[str]) -> tuple[Workload, str | None]:
    parser = argparse.ArgumentParser(prog="python -m bench peer", description=__doc__.split("\n\n")[0])
    d = Workload()
    parser.add_argument("--runs", type=int, default=d.runs)
    parser.add_argument("--concurrency", type=int, default=d.concurrency)
    parser.add_argument("--tokens", type=int, default=d.tokens, help="answer tokens per run")
    parser.add_argument("--token-delay-ms", type=int, default=d.token_delay_ms)
    parser.add_argument("--step-delay-ms", type=int, default=d.step_delay_ms, help="pause before each model turn")
    parser.add_argument("--watchers", type=int, nargs="*", default=list(d.watchers),
                        help="fan-out sizes (none: skip fan-out)")
    parser.add_argument("--fanout-tokens", type=int, default=d.fanout_tokens, help="answer tokens of the fan-out run")
    parser.add_argument("--fanout-deadline-s", type=float, default=d.fanout_deadline_s,
                        help="stop waiting for fan-out watchers to reach the end after this long")
    parser.add_argument("--late-join-s", type=float, default=d.late_join_s)
    parser.add_argument("--peer-jobs-per-worker", type=int, default=d.peer_jobs_per_worker)
    parser.add_argument("--profile", action="store_true",
                        help="sample the servers with py-spy during the throughput phase (needs the bench extra)")
    parser.add_argument("--only", choices=["stigmer_service", "langgraph_dev"], help="measure one system")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: " + json.dumps(QUICK))
    args = parser.parse_args(argv)
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(Workload) if hasattr(args, f.name)}
    options["watchers"] = tuple(options["watchers"])
    if args.quick:
        options.update(QUICK)
    return Workload(**options), args.only


def main(argv: list[str]) -> dict:
    w, only = parse(argv)
    # Stopped from outside: unwind, so each system's child processes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    systems = [StigmerService(w.token_delay_ms, w.step_delay_ms),
               LangGraphDev(w.token_delay_ms, w.step_delay_ms, w.peer_jobs_per_worker)]
    results = {s.name: run_system(s, w) for s in systems if only in (None, s.name)}
    report = {"benchmark": "peer", "workload": dataclasses.asdict(w), **results}
    if len(results) == 2:
        report["ratios_service_over_peer"] = ratios(results["stigmer_service"], results["langgraph_dev"])
    print(json.dumps(report, indent=2), flush=True)
    return report
