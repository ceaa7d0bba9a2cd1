"""Storing a streamed answer: incremental patches against whole statuses, on the Mongo
wire server. One execution, TOKENS updates that each add a few characters; figures are
the bytes each way sends to MongoDB per update (first and last tenth of the run) and the
update rate (client-side work done before the clock starts). Baseline in the same run: the whole-status repository (`apply_status_update`).

    python -m bench.status_patches
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from pathlib import Path

import bson
from pymongo import AsyncMongoClient

from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from bench.harness import emit
from devtools.embedded import EmbeddedServices
from domain import convert
from domain.status_changes import diff_status
from persistence.executions import ExecutionRepository
from persistence.status_layout import mongo_update, status_to_document
from persistence.status_store import apply_whole_status, store_patch

TOKENS = 400
TOKEN = "word " * 4  # 20 characters per update


def status_after(tokens: int) -> api_pb2.AgentExecutionStatus:
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_IN_PROGRESS)
    status.messages.add(type=enum_pb2.MESSAGE_HUMAN, content="tell me a story")
    status.messages.add(type=enum_pb2.MESSAGE_AI, content=TOKEN * tokens)
    return status


def tenths(sizes: list[int]) -> dict[str, float]:
    tenth = max(1, len(sizes) // 10)
    return {"first_tenth": round(sum(sizes[:tenth]) / tenth), "last_tenth": round(sum(sizes[-tenth:]) / tenth)}


async def run(mongodb_uri: str) -> dict:
    client: AsyncMongoClient = AsyncMongoClient(mongodb_uri)
    db = client["bench_status_patches"]
    await client.drop_database(db.name)
    figures: dict[str, dict] = {}

    # Baseline: each update carries the whole status and $sets all of it.
    repository = ExecutionRepository(db)
    execution = api_pb2.AgentExecution(metadata={"id": "aex_whole"}, status={"phase": enum_pb2.EXECUTION_PENDING})
    await repository.insert(execution)
    statuses = [status_after(n) for n in range(1, TOKENS + 1)]
    sizes = [len(bson.encode({"$set": {f"status.{k}": v for k, v in convert.status_fields_to_set(s).items()}}))
             for s in statuses]
    started = time.perf_counter()
    for n, status in enumerate(statuses, start=1):
        await repository.apply_status_update("aex_whole", status, n)
    figures["whole_snapshots"] = {"bytes_per_update": tenths(sizes),
                                  "updates_per_s": round(TOKENS / (time.perf_counter() - started), 1)}

    # Incremental: the runner sends the changes; MongoDB gets one $set of a new text part.
    collection = db["patched"]
    for execution_id in ("aex_patch", "aex_server_diff"):
        await collection.insert_one({"_id": execution_id, "status": status_to_document({"phase": "EXECUTION_PENDING"}),
                                     "version": 1, "status_sequence": 0, "status_bytes": 100})
    snapshots = [{}] + [convert.to_json(status_after(n)) for n in range(1, TOKENS + 1)]
    patches = [diff_status(before, after) for before, after in itertools.pairwise(snapshots)]
    sizes = [len(bson.encode(mongo_update(changes))) for changes in patches]
    started = time.perf_counter()
    for n, changes in enumerate(patches, start=1):
        await store_patch(collection, "aex_patch", changes, n)
    figures["incremental_patches"] = {"bytes_per_update": tenths(sizes),
                                      "updates_per_s": round(TOKENS / (time.perf_counter() - started), 1)}

    # Whole statuses from an old runner, stored as their changes (the server reads and diffs).
    started = time.perf_counter()
    for n, snapshot in enumerate(snapshots[1:], start=1):
        await apply_whole_status(collection, "aex_server_diff", snapshot, n)
    figures["whole_statuses_stored_as_changes"] = {
        "updates_per_s": round(TOKENS / (time.perf_counter() - started), 1)}

    same = [await collection.find_one({"_id": i}, {"status": 1}) for i in ("aex_patch", "aex_server_diff")]
    assert same[0]["status"] == same[1]["status"]
    await client.drop_database(db.name)
    await client.close()
    return figures


async def main() -> None:
    # Only MongoDB is needed: the other two are named, so neither is started.
    with tempfile.TemporaryDirectory() as data, EmbeddedServices(
        Path(data), persistent=False, redis_url="redis://unused:1", temporal_address="unused:1"
    ) as endpoints:
        figures = await run(endpoints.mongodb_uri)
    emit("status_patches", {"tokens": TOKENS, "characters_per_token": len(TOKEN), **figures})


if __name__ == "__main__":
    asyncio.run(main())
