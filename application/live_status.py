"""A run's status as its stream brings it: published at once, stored in batches.

Over `streamStatusPatches` (api/grpc_server.py) a runner's patches reach watchers as soon
as they arrive; storage takes them together, in one update per batch
(persistence/status_store.py `store_batch`):

* a structural change (anything but appended text) is stored, with whatever came
  before it, *before* it is published: phases, tool calls and ends are durable when
  watchers see them, and an end is on record before any stream closes on it;
* appended text is published first and stored at most `persist_interval` after the
  first change storage lacks, and when the stream ends, breaks or another write of the
  same execution comes (`settle`);
* a patch is published only if it applies to the published state (`with_patch`), so
  what watchers see is what storage will take.

Versions stay gap-free for watchers: each published patch is the next version, and the
stored version catches up at each batch. Every published version stays at or below the
stored `live_version_ceiling` (a batch raises it by `CEILING_RESERVE` ahead of need), so
if this process dies with published changes unstored, the runner's next whole status is
stored *above* the ceiling: no watcher ever sees one version with two contents. The
runner holds its state and resends it whole after a broken stream, so nothing is lost.

A watcher resuming at a version that is published but not yet stored gets, from a hub
in this process, exactly the patches after it (the hub loads a live run's state from
here, `state_of`); from a hub in another process, the stored state, and the patches
after it once storage confirms them (application/hub.py, `CONFIRM_WINDOW_SECONDS`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ai.stigmer.agentic.agentexecution.v1 import patch_pb2
from domain import convert
from domain.errors import InvalidArgument, StatusTooLarge, TerminalPhase
from domain.events import BusEvent, PatchEvent, StateEvent, with_patch
from domain.status_changes import Change, PatchDoesNotFit
from domain.status_rules import TERMINAL_PHASE_NAMES, phase_time_stamps
from domain.timestamps import now_rfc3339
from infra import metrics
from infra.keyed_lock import KeyedLocks
from persistence.executions import ExecutionRepository
from persistence.status_store import StatusWrite

log = logging.getLogger(__name__)

# How far above the published version a batch sets the ceiling: text may stream this many
# patches before a batch must be stored to raise it again.
CEILING_RESERVE = 10_000

Publish = Callable[[BusEvent], Awaitable[None]]
FailOversized = Callable[[str, StatusTooLarge], Awaitable[None]]


@dataclass
class LiveRun:
    """One execution's stream: what watchers have, and what storage has."""

    state: StateEvent  # the published state (the REST body at the published version)
    stored: StatusWrite  # version, sequence and phase as stored
    sequence: int  # the newest patch accepted
    ceiling: int  # the highest version storage lets this run publish
    pending: list[Change] = field(default_factory=list)  # published, not yet stored
    pending_versions: int = 0
    flush: asyncio.TimerHandle | None = None

    @property
    def phase(self) -> str:
        return str((self.state.body.get("status") or {}).get("phase", ""))

    def result(self, *, applied: bool = False, resync_needed: bool = False) -> patch_pb2.AgentExecutionStatusPatchResult:
        return patch_pb2.AgentExecutionStatusPatchResult(
            applied=applied, version=self.state.version, stored_sequence=self.sequence,
            resync_needed=resync_needed, stored_version=self.stored.version,
        )


def is_structural(changes: list[Change]) -> bool:
    """Whether `changes` hold anything but appended text (stored before published)."""
    return any("append_text" not in change for change in changes)


class LiveRuns:
    """This process's live runs. Every method but `state_of` runs under the execution's
    lock in `locks` (the caller holds it), like every other status write."""

    def __init__(
        self, executions: ExecutionRepository, publish: Publish, *, persist_interval: float,
        locks: KeyedLocks | None = None,
    ) -> None:
        self.executions = executions
        self.locks = locks or KeyedLocks()
        self.persist_interval = persist_interval
        self._publish = publish
        self._runs: dict[str, LiveRun] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self.fail_oversized: FailOversized | None = None  # set by the execution service

    def state_of(self, execution_id: str) -> StateEvent | None:
        """The published state of a live run here, or None."""
        run = self._runs.get(execution_id)
        return run.state if run is not None else None

    def phase_of(self, execution_id: str) -> str:
        """The published phase of a live run here, or ""."""
        run = self._runs.get(execution_id)
        return run.phase if run is not None else ""

    def drop(self, execution_id: str) -> None:
        """Forget a run without storing it (its execution is being deleted)."""
        self._forget(execution_id)

    async def accept(
        self, execution_id: str, changes: list[Change], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        """Take one patch of the stream: publish it (stored first if structural)."""
        run = self._runs.get(execution_id) or await self._open(execution_id)
        if sequence <= run.sequence:
            return run.result()  # a repeat: acknowledged, nothing changes
        if sequence != run.sequence + 1:
            return run.result(resync_needed=True)  # its predecessor never came
        if run.phase in TERMINAL_PHASE_NAMES:
            raise TerminalPhase(
                f"agent execution {execution_id!r} already ended in {run.phase}; its status is final"
            )
        stamps = phase_time_stamps(changes, run.state.body.get("status") or {}, now_rfc3339())
        if stamps:
            changes = [*changes, {"set": stamps}]
        version = run.state.version + 1
        event = PatchEvent(execution_id, version, version - 1, changes)
        try:
            state = with_patch(run.state, event)
        except PatchDoesNotFit:
            await self.settle(execution_id)  # keep what fits; the runner sends its whole status
            return run.result(resync_needed=True)
        except ValueError as exc:
            raise InvalidArgument(f"status change refused: {exc}") from None
        run.state, run.sequence = state, sequence
        run.pending.extend(changes)
        run.pending_versions += 1
        if is_structural(changes) or version > run.ceiling:
            if not await self._store(execution_id, run):
                return run.result(resync_needed=True)
            await self._publish(event)
        else:
            await self._publish(event)
            self._schedule(execution_id, run)
        metrics.STATUS_UPDATES.labels(outcome="applied").inc()
        return run.result(applied=True)

    async def settle(self, execution_id: str) -> None:
        """Store what the run published and end it here (the stream ended, or another
        write of this execution comes); the next patch starts again from storage."""
        run = self._runs.get(execution_id)
        if run is None:
            return
        await self._store(execution_id, run, releasing=True)
        self._forget(execution_id)

    async def settle_all(self) -> None:
        """Store every live run (shutdown)."""
        for execution_id in list(self._runs):
            async with self.locks.hold(execution_id):
                try:
                    await self.settle(execution_id)
                except Exception as exc:  # storage away: the runners resend their status
                    log.warning("storing live status of %s at shutdown failed: %s", execution_id, exc)

    async def _open(self, execution_id: str) -> LiveRun:
        execution, head = await self.executions.get_with_head(execution_id)
        state = StateEvent(execution_id, head.version, convert.execution_to_body(execution))
        run = LiveRun(state=state, stored=head, sequence=head.stored_sequence, ceiling=head.version)
        self._runs[execution_id] = run
        return run

    async def _store(self, execution_id: str, run: LiveRun, *, releasing: bool = False) -> bool:
        """Store the run's pending changes, and its new ceiling (its version when the run
        ends here). False, with the run forgotten, when another writer came between."""
        if run.flush is not None:
            run.flush.cancel()
            run.flush = None
        ceiling = run.state.version if releasing else run.state.version + CEILING_RESERVE
        if not run.pending and ceiling == run.ceiling:
            return True
        try:
            write = await self.executions.store_batch(
                execution_id, run.pending, stored=run.stored, versions=run.pending_versions,
                sequence=run.sequence, ceiling=ceiling,
            )
        except StatusTooLarge as exc:
            self._forget(execution_id)
            if self.fail_oversized is not None:
                await self.fail_oversized(execution_id, exc)
            raise
        except Exception:
            self._forget(execution_id)  # its fate is unknown: start again from storage
            raise
        if not write.applied:
            log.warning("live status of %s lost its place to another write; the runner resends it", execution_id)
            self._forget(execution_id)
            return False
        run.stored, run.ceiling = write, ceiling
        run.pending, run.pending_versions = [], 0
        return True

    def _schedule(self, execution_id: str, run: LiveRun) -> None:
        if run.flush is None:
            run.flush = asyncio.get_running_loop().call_later(
                self.persist_interval, self._start_flush, execution_id, run
            )

    def _start_flush(self, execution_id: str, run: LiveRun) -> None:
        run.flush = None
        task = asyncio.get_running_loop().create_task(self._flush(execution_id, run))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, execution_id: str, run: LiveRun) -> None:
        async with self.locks.hold(execution_id):
            if self._runs.get(execution_id) is not run:
                return  # settled meanwhile
            try:
                await self._store(execution_id, run)
            except Exception as exc:  # the run is forgotten; the runner resends its status
                log.warning("storing live status of %s failed: %s", execution_id, exc)

    def _forget(self, execution_id: str) -> None:
        run = self._runs.pop(execution_id, None)
        if run is not None and run.flush is not None:
            run.flush.cancel()
