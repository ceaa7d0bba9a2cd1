"""Stores status changes: one conditional, atomic MongoDB update per patch.

Two ways in, both ending as the changes of domain/status_changes.py:

* `store_patch`: a patch with its sequence. It applies only on top of its predecessor
  (`status_sequence == sequence - 1`); an older or repeated one is acknowledged without
  change; one whose predecessor never arrived asks for the whole status (`resync_needed`)
  and changes nothing.
* `apply_whole_status`: a whole status (Stigmer's runner, a resync, the final write),
  turned into the changes against what is stored and written on the condition that the
  document did not change since it was read. Its version continues above any version a
  live stream may have published (`LIVE_CEILING_FIELD`), so a write after a lost stream
  never reuses a version a watcher saw.
* `store_batch`: the patches a live stream already published (application/live_status.py),
  written in one update on the exact version and sequence it last stored.

A terminal phase is final (ARCHITECTURE.md, "Status merge") and the status's content stays
under a size limit (`status_bytes`, an upper bound kept by every update, is checked in the
filter). A patch is written only where it fits what is stored (`fit_conditions`, also in
the filter); one that does not fit changes nothing and asks for the whole status. Long
texts are stored beside the document (persistence/spill.py), once the update's condition
was seen to hold, just before the update. Documents must hold their status in the layout
of `status_to_document`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import bson
from bson.errors import InvalidDocument
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DocumentTooLarge, OperationFailure, WriteError

from domain.errors import (
    InvalidArgument,
    NotFound,
    StatusTooLarge,
    TerminalPhase,
    Unavailable,
    UnstorableContent,
)
from domain.status_changes import (
    Change,
    PatchDoesNotFit,
    Status,
    apply_changes,
    diff_status,
    phase_set_by,
)
from domain.status_rules import TERMINAL_PHASE_NAMES, Decision, StoredState, decide, phase_time_stamps
from domain.timestamps import now_rfc3339
from persistence import spill
from persistence.spill import fill
from persistence.status_layout import (
    LIVE_CEILING_FIELD,
    STATUS_BYTES_FIELD,
    fit_conditions,
    mongo_update,
    status_from_document,
    status_to_document,
)

# MongoDB's "object too large" and "nesting too deep" server errors: content, not outage.
UNSTORABLE_CODES = frozenset({10334, 17419, 15, 17280})
TOO_LARGE_CODES = frozenset({10334, 17419})

# The most a status may hold (its long texts included): under MongoDB's 16 MiB, so the
# whole status of an execution always fits in one reply, with a readable error past it.
MAX_STATUS_BYTES = 15 * 1024 * 1024
# Rounds of read-diff-write a whole status gets when other writers keep winning.
WHOLE_STATUS_ATTEMPTS = 5

_OUTCOME_FIELDS = {"version": 1, "status_sequence": 1, "status.phase": 1, STATUS_BYTES_FIELD: 1}


@dataclass(frozen=True)
class StatusWrite:
    """What one call did.

    `applied`: the update was accepted as the newest (an ordered one's sequence is now the
    stored one). `changes`: what it changed, what watchers should receive; when empty,
    nothing visible changed and `version` stayed the same. `document`: the stored
    document after the call (long texts filled in) when the call knows it without
    another read (a whole status: it read the document to diff it).
    """

    applied: bool
    version: int
    stored_sequence: int
    phase: str
    resync_needed: bool = False
    changes: list[Change] = field(default_factory=list)
    document: dict[str, Any] | None = field(default=None, repr=False)


class KnownHeads:
    """The newest (version, sequence, phase) this process wrote or read per execution, a
    bounded LRU. With it a patch is one `update_one` whose filter names the exact version
    it builds on, and its outcome is known without reading the document back (reading
    back costs the document's size on the embedded stand-in). A stale entry, e.g. another
    server process wrote since, only fails that filter and takes the ordinary path."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._heads: OrderedDict[str, StatusWrite] = OrderedDict()

    def get(self, execution_id: str) -> StatusWrite | None:
        return self._heads.get(execution_id)

    def remember(self, execution_id: str, write: StatusWrite) -> StatusWrite:
        if write.version:  # a read of the bookkeeping fields, or a write
            self._heads[execution_id] = replace(write, changes=[], document=None)  # small
            self._heads.move_to_end(execution_id)
            while len(self._heads) > self._capacity:
                self._heads.popitem(last=False)
        return write

    def forget(self, execution_id: str) -> None:
        self._heads.pop(execution_id, None)


async def store_patch(
    collection: AsyncCollection[dict[str, Any]],
    execution_id: str,
    changes: list[Change],
    sequence: int,
    *,
    max_status_bytes: int = MAX_STATUS_BYTES,
    heads: KnownHeads | None = None,
    stamp_times: bool = False,
) -> StatusWrite:
    """Store a patch if it follows the stored sequence and fits; see the module docstring.
    `stamp_times`: add the times a phase change lacks (domain/status_rules.py `phase_time_stamps`)."""
    if sequence <= 0:
        raise InvalidArgument("a status patch needs a sequence above 0")
    heads = heads or KnownHeads(capacity=0)
    if stamp_times:
        # A patch is written without reading what is stored, so only a terminal phase is
        # stamped here (it is entered once); a patch entering IN_PROGRESS brings its start.
        stamps = phase_time_stamps(changes, {}, now_rfc3339())
        if "completed_at" in stamps:
            changes = [*changes, {"set": {"completed_at": stamps["completed_at"]}}]
    update = _with_bookkeeping(_update_for(changes), sequence, bump_version=bool(changes))
    try:
        fit: dict[str, Any] | None = fit_conditions(changes)
    except PatchDoesNotFit:
        fit = None  # fits nothing: whatever is stored, the decision below refuses it
    except ValueError as exc:
        raise InvalidArgument(f"status change refused: {exc}") from None
    texts = _texts(collection, execution_id, update, max_status_bytes)
    known = heads.get(execution_id)
    if fit is not None and known and known.stored_sequence == sequence - 1 and known.phase not in TERMINAL_PHASE_NAMES:
        exact = {"_id": execution_id, "version": known.version, "status_sequence": sequence - 1}
        if await _write(collection, _both(exact, fit), update, max_status_bytes, texts):
            return heads.remember(execution_id, _after(known, changes, sequence))
    condition = {
        "_id": execution_id,
        "status.phase": {"$nin": sorted(TERMINAL_PHASE_NAMES)},
        "status_sequence": sequence - 1,
    }
    for _ in range(3):  # later rounds after correcting a missing or overestimated size
        doc = None
        if fit is not None:
            doc = await _update_within_limit(collection, _both(condition, fit), update, max_status_bytes, texts)
        if doc is not None:
            return heads.remember(execution_id, _written(doc, changes))
        doc = await _read_outcome(collection, execution_id)
        stored = _stored_state(doc)
        heads.remember(execution_id, _unchanged(doc))
        decision = decide(stored, phase_set_by(changes), sequence)
        if decision is Decision.REFUSED:
            raise _final(execution_id, stored.phase)
        if decision is not Decision.APPLY:
            return _unchanged(doc)
        if stored.sequence < sequence - 1:
            return _unchanged(doc, resync_needed=True)
        # Its predecessor is stored: it does not fit what is stored, or the size limit
        # held it back.
        if fit is None or await collection.find_one({**_both({"_id": execution_id}, fit)}, {"_id": 1}) is None:
            return _unchanged(doc, resync_needed=True)
        await _correct_size_or_refuse(collection, execution_id, update, max_status_bytes)
    raise Unavailable(f"status of {execution_id!r} kept changing while it was written")


async def apply_whole_status(
    collection: AsyncCollection[dict[str, Any]],
    execution_id: str,
    status: Status,
    sequence: int = 0,
    *,
    max_status_bytes: int = MAX_STATUS_BYTES,
    heads: KnownHeads | None = None,
    stamp_times: bool = False,
) -> StatusWrite:
    """Merge a whole status (proto JSON) as the changes against what is stored.
    `stamp_times`: add the times a phase change lacks (domain/status_rules.py `phase_time_stamps`).

    `sequence` 0 means unordered (old runners); otherwise an update not above the stored
    sequence is stale, and an applied one becomes the base of the patches that follow.
    """
    heads = heads or KnownHeads(capacity=0)
    for _ in range(WHOLE_STATUS_ATTEMPTS):
        # No projection: the embedded stand-in copies a whole document to project it.
        doc = await collection.find_one({"_id": execution_id})
        if doc is None:
            raise NotFound(f"agent execution {execution_id!r} not found")
        stored = _stored_state(doc)
        read = heads.remember(execution_id, _unchanged(doc))
        decision = decide(stored, status.get("phase") or None, sequence)
        if decision is Decision.REFUSED:
            raise _final(execution_id, stored.phase)
        await fill(collection, [doc])
        if decision is not Decision.APPLY:
            return replace(read, document=doc)
        stored_status = status_from_document(doc.get("status", {}))
        changes = diff_status(stored_status, status)
        stamps = phase_time_stamps(changes, stored_status, now_rfc3339()) if stamp_times else {}
        if stamps:
            changes = [*changes, {"set": stamps}]
        if not changes and sequence <= stored.sequence:
            return replace(read, document=doc)
        new_sequence = max(sequence, stored.sequence)
        update = _with_bookkeeping(_update_for(changes), new_sequence, bump_version=bool(changes))
        if changes:
            read = replace(read, version=continue_above_ceiling(update, doc))
        texts = _texts(collection, execution_id, update, max_status_bytes)
        # Unchanged since read: the version (every visible change bumps it) and the
        # sequence (a write that only moves it keeps the version).
        condition = {"_id": execution_id, "version": doc.get("version", 0)}
        if "status_sequence" in doc:
            condition["status_sequence"] = doc["status_sequence"]
        if await _write(collection, condition, update, max_status_bytes, texts):
            written = heads.remember(execution_id, _after(read, changes, new_sequence))
            after = {**doc, "status": status_to_document(apply_changes(stored_status, changes)),
                     "version": written.version, "status_sequence": new_sequence}
            return replace(written, document=after)
        current = await _read_outcome(collection, execution_id)
        if all(current.get(k) == doc.get(k) for k in ("version", "status_sequence")):
            await _correct_size_or_refuse(collection, execution_id, update, max_status_bytes)
    raise Unavailable(f"status of {execution_id!r} kept changing while it was written")


async def store_batch(
    collection: AsyncCollection[dict[str, Any]],
    execution_id: str,
    changes: list[Change],
    *,
    stored: StatusWrite,
    versions: int,
    sequence: int,
    ceiling: int,
    max_status_bytes: int = MAX_STATUS_BYTES,
    heads: KnownHeads | None = None,
) -> StatusWrite:
    """Store `changes`, the `versions` patches a live stream published since `stored`
    (the version and sequence it last stored), as one update that holds only if nothing
    else wrote since; it also records `ceiling`, the highest version the stream may
    publish before its next write. Not applied (nothing written) when another writer came
    between: the stream then starts again from a whole status."""
    heads = heads or KnownHeads(capacity=0)
    update = _with_bookkeeping(_update_for(changes), sequence, bump_version=bool(changes))
    if changes:
        update["$inc"]["version"] = versions
    update["$set"][LIVE_CEILING_FIELD] = ceiling
    texts = _texts(collection, execution_id, update, max_status_bytes)
    exact = {"_id": execution_id, "version": stored.version, "status_sequence": stored.stored_sequence,
             "status.phase": {"$nin": sorted(TERMINAL_PHASE_NAMES)}}
    for _ in range(2):  # the second after correcting a missing or overestimated size
        if await _write(collection, exact, update, max_status_bytes, texts):
            version = stored.version + (versions if changes else 0)
            written = StatusWrite(True, version, sequence, phase_set_by(changes) or stored.phase, changes=changes)
            return heads.remember(execution_id, written)
        doc = await _read_outcome(collection, execution_id)
        if int(doc.get("version", 0)) != stored.version or _stored_state(doc).sequence != stored.stored_sequence:
            heads.forget(execution_id)
            return _unchanged(doc)
        if _stored_state(doc).phase in TERMINAL_PHASE_NAMES:
            raise _final(execution_id, _stored_state(doc).phase)
        await _correct_size_or_refuse(collection, execution_id, update, max_status_bytes)
    raise Unavailable(f"status of {execution_id!r} kept changing while it was written")


def continue_above_ceiling(update: dict[str, Any], doc: dict[str, Any]) -> int:
    """Make `update`, which bumps the version by one, continue above any version a live
    stream may have published (`LIVE_CEILING_FIELD` of `doc`, the stored document);
    return the version the update builds on."""
    version, ceiling = int(doc.get("version", 0)), int(doc.get(LIVE_CEILING_FIELD, 0))
    if ceiling <= version:
        return version
    update["$inc"].pop("version", None)
    update.setdefault("$set", {}).update({"version": ceiling + 1, LIVE_CEILING_FIELD: ceiling + 1})
    return ceiling


def _after(before: StatusWrite, changes: list[Change], sequence: int) -> StatusWrite:
    """The outcome of `changes` written on top of the state `before` (an exact filter held)."""
    version = before.version + (1 if changes else 0)
    return StatusWrite(True, version, sequence, phase_set_by(changes) or before.phase, changes=changes)


def _update_for(changes: list[Change]) -> dict[str, Any]:
    try:
        return mongo_update(changes)
    except ValueError as exc:  # a malformed change: the sender's mistake
        raise InvalidArgument(f"status change refused: {exc}") from None


def _with_bookkeeping(update: dict[str, Any], sequence: int, *, bump_version: bool) -> dict[str, Any]:
    update = {**update, "$set": {**update.get("$set", {}), "status_sequence": sequence}}
    if bump_version:
        update["$inc"] = {**update["$inc"], "version": 1}
    return update


def _both(condition: dict[str, Any], fit: dict[str, Any]) -> dict[str, Any]:
    """`condition` and `fit` in one filter (both may name the phase)."""
    both = {**condition, **fit}
    if "status.phase" in condition and "status.phase" in fit:
        excluded = set(condition["status.phase"]["$nin"]) | set(fit["status.phase"]["$nin"])
        both["status.phase"] = {"$nin": sorted(excluded)}
    return both


class _Texts:
    """The long texts of an update (`spill.set_aside`), stored beside the document just
    before the first write whose condition holds: a refused write leaves nothing."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], execution_id: str, contents: dict[str, str]) -> None:
        self._collection, self._execution_id, self._contents = collection, execution_id, contents

    async def ready_for(self, condition: dict[str, Any]) -> bool:
        """Whether a write under `condition` may go ahead: at once without texts, else
        when the condition holds now (then the texts are stored)."""
        if not self._contents:
            return True
        if await self._collection.find_one(condition, {"_id": 1}) is None:
            return False
        try:
            await spill.store(self._collection, self._execution_id, self._contents)
        except DocumentTooLarge as exc:  # one text over MongoDB's document limit (with a lower limit)
            raise StatusTooLarge(f"status text too large to store: {exc}"[:500]) from None
        self._contents = {}
        return True


def _texts(
    collection: AsyncCollection[dict[str, Any]], execution_id: str, update: dict[str, Any], limit: int
) -> _Texts:
    """`update` with references in place of its long texts (in place), and those texts;
    content that alone exceeds the limit is refused before anything is written."""
    adding = update["$inc"][STATUS_BYTES_FIELD]
    if adding > limit:
        raise StatusTooLarge(
            f"a status update of {adding} bytes exceeds the {limit}-byte limit of agent execution {execution_id!r}"
        )
    return _Texts(collection, execution_id, spill.set_aside(execution_id, update))


def _within(condition: dict[str, Any], update: dict[str, Any], limit: int) -> dict[str, Any]:
    """`condition`, and the status stays under `limit` bytes after `update`. A document
    without the counter fails this once; the caller then measures it. (No `$or` with
    `$exists`: the embedded Mongo stand-in mismatches such filters.)"""
    return {**condition, STATUS_BYTES_FIELD: {"$lte": limit - update["$inc"][STATUS_BYTES_FIELD]}}


async def _write(
    collection: AsyncCollection[dict[str, Any]], condition: dict[str, Any], update: dict[str, Any], limit: int,
    texts: _Texts,
) -> bool:
    """The update under `condition` (and the size limit); whether it applied. Nothing
    comes back: the caller's condition already says what the outcome is."""
    if not await texts.ready_for(_within(condition, update, limit)):
        return False
    with _storage_errors():
        result = await collection.update_one(_within(condition, update, limit), update)
    return result.matched_count == 1


async def _update_within_limit(
    collection: AsyncCollection[dict[str, Any]], condition: dict[str, Any], update: dict[str, Any], limit: int,
    texts: _Texts,
) -> dict[str, Any] | None:
    """The update under `condition` and the size limit; the bookkeeping fields after it,
    or None when the filter did not match."""
    if not await texts.ready_for(_within(condition, update, limit)):
        return None
    with _storage_errors():
        return await collection.find_one_and_update(
            _within(condition, update, limit), update, projection=_OUTCOME_FIELDS,
            return_document=ReturnDocument.AFTER,
        )


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Content MongoDB cannot hold, as the service's errors (never retried)."""
    try:
        yield
    except DocumentTooLarge as exc:
        raise StatusTooLarge(f"status too large to store: {exc}"[:500]) from None
    except InvalidDocument as exc:
        raise UnstorableContent(f"{type(exc).__name__}: {exc}"[:500]) from None
    except (WriteError, OperationFailure) as exc:
        if exc.code not in UNSTORABLE_CODES:
            raise
        error = StatusTooLarge if exc.code in TOO_LARGE_CODES else UnstorableContent
        raise error(f"status not storable: {exc}"[:500]) from None


async def _correct_size_or_refuse(
    collection: AsyncCollection[dict[str, Any]], execution_id: str, update: dict[str, Any], limit: int
) -> None:
    """The byte counter overestimates (replaced items count again) or is missing: measure
    the stored document and correct the counter, or refuse content that would not fit."""
    doc = await collection.find_one({"_id": execution_id})
    if doc is None:
        raise NotFound(f"agent execution {execution_id!r} not found")
    await fill(collection, [doc])  # the limit is on the status's content, wherever it lives
    size = len(bson.encode(doc))
    if size + update["$inc"][STATUS_BYTES_FIELD] > limit:
        raise StatusTooLarge(
            f"the status of agent execution {execution_id!r} outgrew the {limit}-byte limit "
            f"(stored {size} bytes, adding up to {update['$inc'][STATUS_BYTES_FIELD]})"
        )
    await collection.update_one(
        {"_id": execution_id, "version": doc.get("version", 0)}, {"$set": {STATUS_BYTES_FIELD: size}}
    )


async def _read_outcome(collection: AsyncCollection[dict[str, Any]], execution_id: str) -> dict[str, Any]:
    doc = await collection.find_one({"_id": execution_id}, _OUTCOME_FIELDS)
    if doc is None:
        raise NotFound(f"agent execution {execution_id!r} not found")
    return doc


def _stored_state(doc: dict[str, Any]) -> StoredState:
    # The embedded Mongo stand-in returns a projected "status.phase" under that flat key.
    phase = doc.get("status", {}).get("phase") or doc.get("status.phase")
    return StoredState(
        phase=phase or "EXECUTION_PHASE_UNSPECIFIED",
        sequence=int(doc.get("status_sequence", 0)),
    )


def _written(doc: dict[str, Any], changes: list[Change]) -> StatusWrite:
    stored = _stored_state(doc)
    return StatusWrite(True, int(doc.get("version", 0)), stored.sequence, stored.phase, changes=changes)


def _unchanged(doc: dict[str, Any], *, resync_needed: bool = False) -> StatusWrite:
    stored = _stored_state(doc)
    return StatusWrite(
        False, int(doc.get("version", 0)), stored.sequence, stored.phase, resync_needed=resync_needed
    )


def _final(execution_id: str, phase: str) -> TerminalPhase:
    return TerminalPhase(f"agent execution {execution_id!r} already ended in {phase}; its status is final")
