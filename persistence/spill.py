"""Large status text lives beside the execution document, so a status update costs the
size of the change, not the size of the run.

A MongoDB update rewrites the document it changes (the embedded stand-in even parses it
whole), so the execution document holds the structure of a status (phase, timestamps,
ids, names, small texts) and every long text of a known text field is stored once in
the `status_content` collection, keyed by the execution and the text's digest. The
document keeps a reference in that field's place, `{"spilled": "<digest>"}` (short: the
document's size is what every update pays); a reference can never be mistaken for
content because these fields hold strings.

Content is immutable and addressed by what it is (a retry stores nothing new). It is
stored only once the update's condition was seen to hold, just before the update
(persistence/status_store.py), so a refused update stores nothing; the rare write that
loses a race after that leaves an unreferenced copy, removed with the execution. Texts
written while their execution was being deleted are removed by `sweep` (the
reconciler runs it). Readers fill references back in with one query per read (`fill`),
so everything above persistence sees plain statuses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

log = logging.getLogger(__name__)

CONTENT_COLLECTION = "status_content"
# Texts at least this long (UTF-8 bytes) are stored beside the document.
SPILL_BYTES = 1024
REFERENCE_KEY = "spilled"
DIGEST_HEX = 40  # 160 bits of SHA-256: texts of one execution never collide
DUPLICATE_KEY = 11000

# The text fields whose values may be spilled, as paths under `status` in the stored
# layout (core/status_patch.py); "*" is any key of a position- or offset-keyed map.
SPILLABLE_FIELDS: tuple[tuple[str, ...], ...] = (
    ("messages", "*", "content_parts", "*"),
    ("tool_calls", "*", "result"),
    ("sub_agent_executions", "*", "input"),
    ("sub_agent_executions", "*", "output"),
)


def content_collection(executions: AsyncCollection[dict[str, Any]]) -> AsyncCollection[dict[str, Any]]:
    return executions.database[CONTENT_COLLECTION]


async def create_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[CONTENT_COLLECTION].create_index([("execution_id", ASCENDING)])


def set_aside(execution_id: str, update: dict[str, Any]) -> dict[str, str]:
    """Put references in place of the long texts `update` sets (in place); returns the
    texts by content id, for `store`."""
    contents: dict[str, str] = {}
    sets = update.get("$set")
    if not sets:
        return contents
    for container, key in list(_leaves_in_sets(sets)):
        text = container[key]
        if isinstance(text, str) and len(text) >= SPILL_BYTES // 4 and len(text.encode()) >= SPILL_BYTES:
            digest = hashlib.sha256(text.encode()).hexdigest()[:DIGEST_HEX]
            contents[_content_id(execution_id, digest)] = text
            container[key] = {REFERENCE_KEY: digest}
    return contents


async def store(executions: AsyncCollection[dict[str, Any]], execution_id: str, contents: dict[str, str]) -> None:
    """Store texts `set_aside` took out of an update (before that update is written)."""
    if contents:
        await _store(content_collection(executions), execution_id, contents)


async def fill(executions: AsyncCollection[dict[str, Any]], docs: Iterable[dict[str, Any]]) -> None:
    """Put the spilled texts back into the statuses of `docs` (in place), in one query."""
    references = [
        (container, key, _content_id(doc["_id"], container[key][REFERENCE_KEY]))
        for doc in docs
        if isinstance(doc.get("status"), dict)
        for container, key in _leaves(doc["status"], SPILLABLE_FIELDS)
        if _is_reference(container[key])
    ]
    if not references:
        return
    wanted = sorted({content_id for _, _, content_id in references})
    texts = {
        stored["_id"]: stored.get("text", "")
        async for stored in content_collection(executions).find({"_id": {"$in": wanted}})
    }
    for container, key, content_id in references:
        if content_id not in texts:
            log.error("status content %s is missing; it reads as empty", content_id)
        container[key] = texts.get(content_id, "")


async def drop(executions: AsyncCollection[dict[str, Any]], execution_id: str) -> None:
    """Remove an execution's stored texts (after the execution itself is gone)."""
    await content_collection(executions).delete_many({"execution_id": execution_id})


async def sweep(executions: AsyncCollection[dict[str, Any]], batch: int = 500) -> int:
    """Remove the texts of executions that no longer exist (written while their
    execution was being deleted); returns how many went. Texts are only written for an
    execution that exists, and a deleted id never comes back, so this races nothing."""
    content = content_collection(executions)
    owners = [owner for owner in await content.distinct("execution_id") if isinstance(owner, str)]
    removed = 0
    for start in range(0, len(owners), batch):
        chunk = owners[start:start + batch]
        alive = {doc["_id"] async for doc in executions.find({"_id": {"$in": chunk}}, {"_id": 1})}
        gone = [owner for owner in chunk if owner not in alive]
        if gone:
            removed += (await content.delete_many({"execution_id": {"$in": gone}})).deleted_count
    if removed:
        log.warning("removed %d status texts of deleted executions", removed)
    return removed


async def _store(content: AsyncCollection[dict[str, Any]], execution_id: str, contents: dict[str, str]) -> None:
    documents = [{"_id": cid, "execution_id": execution_id, "text": text} for cid, text in contents.items()]
    try:
        await content.insert_many(documents, ordered=False)
    except BulkWriteError as exc:  # already stored (a retry): the same id is the same text
        if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
            raise


def _content_id(execution_id: str, digest: str) -> str:
    return f"{execution_id}:{digest}"


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(REFERENCE_KEY), str)


def _leaves_in_sets(sets: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) of each spillable field a `$set` writes, at whatever depth its
    paths name (`status.tool_calls.t00001` or `status.messages.m00000.content_parts.o…`)."""
    for path in list(sets):
        parts = path.split(".")
        if parts[0] != "status":
            continue
        named = parts[1:]
        for field in SPILLABLE_FIELDS:
            if len(named) > len(field) or not all(f in ("*", n) for f, n in zip(field, named, strict=False)):
                continue
            if len(named) == len(field):
                yield sets, path
            elif isinstance(sets[path], dict):
                yield from _leaves(sets[path], (field[len(named):],))


def _leaves(root: dict[str, Any], fields: Iterable[tuple[str, ...]]) -> Iterator[tuple[dict[str, Any], str]]:
    for field in fields:
        yield from _walk(root, field)


def _walk(node: dict[str, Any], field: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], str]]:
    head, rest = field[0], field[1:]
    for key in list(node) if head == "*" else [head]:
        if key not in node:
            continue
        if not rest:
            yield node, key
        elif isinstance(node[key], dict):
            yield from _walk(node[key], rest)
