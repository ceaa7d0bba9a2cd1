"""The service layer shared by REST, SSE and gRPC: validation, rules, orchestration.

Transports stay thin: they parse, call one method here, and map `ServiceError`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from redis.exceptions import RedisError

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, patch_pb2
from ai.stigmer.agentic.agentexecution.v1.spec_pb2 import AgentExecutionSpec
from ai.stigmer.agentic.session.v1.api_pb2 import Session
from application.environments import EnvironmentService
from application.execution_contexts import ExecutionContextService
from application.hub import LoadState, SubscriptionHub, state_phase
from application.live_status import LiveRuns
from application.resources import ResourceService
from application.skills import SkillService
from domain import convert
from domain.callback_token import validate_callback_token
from domain.errors import (
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    StatusTooLarge,
    TerminalPhase,
    Unavailable,
)
from domain.events import BusEvent, PatchEvent, StateEvent
from domain.ids import is_valid_id, new_id, require_id
from domain.pages import Page
from domain.status_rules import is_terminal
from domain.validation import (
    validate_execution_update,
    validate_new_execution,
    validate_status_patch,
    validate_status_update,
)
from infra import metrics
from infra.keyed_lock import KeyedLocks
from infra.settings import Settings
from persistence.bus import EventBus
from persistence.executions import DuplicateIdempotencyKey, ExecutionRepository
from persistence.status_store import StatusWrite

T = TypeVar("T")

log = logging.getLogger(__name__)

EXECUTION = "agent execution"  # what a missing or unknown id names


def request_fingerprint(execution: api_pb2.AgentExecution) -> str:
    """What identifies a create request, for Idempotency-Key reuse checks."""
    canonical = json.dumps(convert.to_json(execution), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _require_same_request(first: str, this: str) -> None:
    if first and first != this:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request; use a new key"
        )


class WorkflowControl(Protocol):
    """Starts and cancels the durable workflow of an execution (workflows/starter.py)."""

    async def start(self, execution: api_pb2.AgentExecution) -> None: ...

    async def cancel(self, execution_id: str) -> bool: ...


def state_event(execution: api_pb2.AgentExecution) -> StateEvent:
    return StateEvent(
        execution.metadata.id, execution.status.version, convert.execution_to_body(execution)
    )


def state_loader(executions: ExecutionRepository, live: LiveRuns | None = None) -> LoadState:
    """Reads an execution's state as a bus event, for the hub: a live run's published
    state when this process holds one (it is ahead of storage), else the stored one."""

    async def load(execution_id: str) -> StateEvent | None:
        held = live.state_of(execution_id) if live is not None else None
        if held is not None:
            return held
        try:
            return state_event(await executions.get(execution_id))
        except NotFound:
            return None

    return load


@dataclass(frozen=True)
class WatchEnd:
    """The last item of a watch: the phase it ended in, and whether the execution was
    deleted while watched (then the phase is the last one known)."""

    phase: str
    deleted: bool = False


# What a watch yields: an event, its end, or None when idle (see `ExecutionService.watch`).
WatchItem = BusEvent | WatchEnd | None
# The watch itself: an async generator, so every transport can close it (aclose).
Watch = AsyncGenerator[WatchItem, None]


class ExecutionService:
    def __init__(
        self,
        *,
        executions: ExecutionRepository,
        resources: ResourceService,
        bus: EventBus,
        hub: SubscriptionHub | None,
        workflows: WorkflowControl | None = None,
        max_message_chars: int = 100_000,
        skills: SkillService | None = None,
        environments: EnvironmentService | None = None,
        execution_contexts: ExecutionContextService | None = None,
        live: LiveRuns | None = None,
    ) -> None:
        self.executions = executions
        self.resources = resources
        # Served beside executions; an execution with runtime_env has a context while it runs.
        self.skills = skills
        self.environments = environments
        self.execution_contexts = execution_contexts
        self.bus = bus
        self.hub = hub
        self.workflows = workflows
        self.max_message_chars = max_message_chars
        # Runs whose status streams in (application/live_status.py); they publish before
        # they store, so every other status write settles them first.
        self.live = live or LiveRuns(
            executions, self._publish_event, persist_interval=Settings.model_fields["persist_interval_ms"].default / 1000
        )
        self.live.fail_oversized = self._fail_oversized
        # Per-execution ordering inside this process: update + publish as one step, so
        # the bus carries every state in version order.
        self._update_locks: KeyedLocks = self.live.locks

    # -- commands ---------------------------------------------------------------

    async def create(
        self, execution: api_pb2.AgentExecution, *, idempotency_key: str | None = None, caller: str = "",
        agent_by_name: bool = False,
    ) -> tuple[api_pb2.AgentExecution, bool]:
        """Persist a PENDING execution and start its workflow. Returns (execution, created).

        An `idempotency_key` is scoped to the `caller` (who sent it) and bound to the request
        it first came with: a retry gets the first execution, the same key with another
        request is refused (the IETF Idempotency-Key draft's rule).

        `agent_by_name` (REST): `spec.agent_id` may also be the agent's name or slug, as
        Stigmer's CLI resolves agents by reference; the execution stores the id."""
        validate_new_execution(execution, max_message_chars=self.max_message_chars)
        spec = execution.spec
        if agent_by_name and spec.agent_id and not spec.agent_id.startswith("agt_"):
            spec.agent_id = (await self.resources.find_agent(spec.agent_id)).metadata.id
        if spec.callback_token:
            validate_callback_token(spec.callback_token)
        if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
            raise InvalidArgument("Idempotency-Key must be 1 to 200 characters")
        fingerprint = request_fingerprint(execution)
        if idempotency_key:
            idempotency_key = f"{caller}/{idempotency_key}"
            found = await self.executions.find_by_idempotency_key(idempotency_key)
            if found is not None:
                existing, first_fingerprint = found
                _require_same_request(first_fingerprint, fingerprint)
                return await self._ensure_started(existing), False

        session, agent = await self._resolve_session(spec)
        new = api_pb2.AgentExecution(api_version=convert.API_VERSION, kind=convert.KIND)
        new.metadata.CopyFrom(execution.metadata)
        new.metadata.id = new_id("aex")
        new.metadata.name = new.metadata.name or new.metadata.id
        new.spec.CopyFrom(spec)
        new.spec.session_id = session.metadata.id
        new.spec.agent_id = agent.metadata.id
        new.status.phase = enum_pb2.EXECUTION_PENDING
        if spec.callback_token:
            new.status.callback_token = spec.callback_token
        try:
            stored = await self.executions.insert(
                new, idempotency_key=idempotency_key, request_fingerprint=fingerprint
            )
        except DuplicateIdempotencyKey as dup:  # a concurrent retry won the insert
            await self._forget_new_session(spec, session)
            _require_same_request(dup.fingerprint, fingerprint)
            return await self._ensure_started(await self.executions.get(dup.existing_id)), False
        if self.execution_contexts is not None:
            try:
                await self.execution_contexts.open_for_execution(stored.metadata.id, spec.runtime_env)
            except Exception:
                # Nothing half-made: an execution whose context cannot be stored is not created.
                await self.executions.delete(stored.metadata.id)
                await self._forget_new_session(spec, session)
                raise
        if self.workflows is not None:
            try:
                await self.workflows.start(stored)
            except Exception as exc:
                # Nothing half-made: without its workflow the execution would never run.
                log.error("starting workflow for %s failed: %s", stored.metadata.id, exc)
                await self.executions.delete(stored.metadata.id)
                await self._execution_ended(stored.metadata.id)
                await self._forget_new_session(spec, session)
                raise Unavailable("could not start the execution's workflow; try again") from exc
        await self._publish(stored)
        return stored, True

    async def _forget_new_session(self, spec: AgentExecutionSpec, session: Session) -> None:
        """Undo the session a failed create made for it (one named by the client stays)."""
        if not spec.session_id:
            await self.resources.delete_session(session.metadata.id)

    async def _ensure_started(self, execution: api_pb2.AgentExecution) -> api_pb2.AgentExecution:
        """An idempotent retry re-starts the workflow in case the first try died midway."""
        if self.workflows is not None and execution.status.phase == enum_pb2.EXECUTION_PENDING:
            await self.workflows.start(execution)
        return execution

    async def _resolve_session(self, spec: AgentExecutionSpec) -> tuple[Session, Agent]:
        """The execution's session (a new one on the agent's default instance) and agent."""
        target = await self.resources.resolve_execution_target(
            spec.session_id, spec.agent_id, subject=spec.message
        )
        return target.session, target.agent

    async def update_spec(self, execution: api_pb2.AgentExecution) -> api_pb2.AgentExecution:
        """User edits: only spec fields that mean something after creation."""
        validate_execution_update(execution)
        execution_id = require_id(execution.metadata.id, EXECUTION)
        fields: dict[str, Any] = {}
        if execution.spec.HasField("execution_config"):
            fields["execution_config"] = convert.to_json(execution.spec.execution_config)
        if execution.spec.runtime_env:
            fields["runtime_env"] = convert.to_json(execution.spec)["runtime_env"]
        async with self._update_locks.hold(execution_id):
            await self.live.settle(execution_id)
            updated = await self.executions.update_spec(execution_id, fields)
            await self._publish(updated)
        return updated

    async def update_status(
        self, execution_id: str, status: api_pb2.AgentExecutionStatus | None, sequence: int = 0
    ) -> api_pb2.AgentExecution:
        """Merge a runner's status snapshot (ARCHITECTURE.md, "Status merge") and publish the stored state."""
        status = validate_status_update(execution_id, status)
        require_id(execution_id, EXECUTION)
        if sequence < 0:
            raise InvalidArgument("sequence must not be negative")
        async with self._update_locks.hold(execution_id):
            await self.live.settle(execution_id)
            try:
                result = await self._stored(
                    execution_id, self.executions.apply_status_update(execution_id, status, sequence)
                )
            except TerminalPhase:
                await self._execution_ended(execution_id)
                raise
            await self._publish_write(execution_id, result.write)
        if is_terminal(result.execution.status.phase):
            await self._execution_ended(execution_id)
        return result.execution

    async def apply_status_patch(
        self, patch: patch_pb2.AgentExecutionStatusPatch
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        """Store a runner's incremental status (only what changed) and publish it.

        A patch whose predecessor never arrived changes nothing and answers
        `resync_needed`: the runner then sends its whole status."""
        changes = validate_status_patch(patch)
        execution_id = require_id(patch.execution_id, EXECUTION)
        async with self._update_locks.hold(execution_id):
            await self.live.settle(execution_id)
            write = await self._stored(
                execution_id, self.executions.apply_status_patch(execution_id, changes, patch.sequence)
            )
            await self._publish_write(execution_id, write)
        return patch_pb2.AgentExecutionStatusPatchResult(
            applied=write.applied, version=write.version, stored_version=write.version,
            stored_sequence=write.stored_sequence, resync_needed=write.resync_needed,
        )

    async def stream_patch(
        self, patch: patch_pb2.AgentExecutionStatusPatch
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        """One patch of a run's status stream: watchers get it at once, storage in a
        batch (application/live_status.py). Answers as `apply_status_patch` does, with
        `stored_version` saying how far storage has come."""
        changes = validate_status_patch(patch)
        execution_id = require_id(patch.execution_id, EXECUTION)
        async with self._update_locks.hold(execution_id):
            try:
                result = await self.live.accept(execution_id, changes, patch.sequence)
            except TerminalPhase:
                await self._execution_ended(execution_id)
                raise
            ended = result.applied and is_terminal(self.live.phase_of(execution_id))
        if ended:
            await self._execution_ended(execution_id)
        return result

    async def end_stream(self, execution_id: str) -> None:
        """A run's status stream ended (or broke): store what it published."""
        async with self._update_locks.hold(execution_id):
            await self.live.settle(execution_id)

    async def _stored(self, execution_id: str, write: Awaitable[T]) -> T:
        """Await a status write: a status too large to grow ends the execution; any failure
        is counted by its code."""
        try:
            return await write
        except StatusTooLarge as exc:
            await self._fail_oversized(execution_id, exc)
            raise
        except Exception as exc:
            metrics.STATUS_UPDATES.labels(outcome=getattr(exc, "code", "error")).inc()
            raise

    async def _publish_write(self, execution_id: str, write: StatusWrite) -> None:
        metrics.STATUS_UPDATES.labels(outcome="applied" if write.applied else "stale").inc()
        if write.applied and write.changes:
            # Every visible change bumps the version by one, so the patch's base is the
            # version before it.
            await self._publish_event(
                PatchEvent(execution_id, write.version, write.version - 1, write.changes)
            )

    async def _fail_oversized(self, execution_id: str, exc: StatusTooLarge) -> None:
        """A status that cannot grow any more ends the execution, saying why."""
        log.warning("status of %s too large, failing it: %s", execution_id, exc.message)
        write = await self.executions.fail_oversized(execution_id, exc.message)
        await self._publish_write(execution_id, write)

    async def delete(self, execution_id: str) -> api_pb2.AgentExecution:
        require_id(execution_id, EXECUTION)
        async with self._update_locks.hold(execution_id):
            self.live.drop(execution_id)
            deleted = await self.executions.delete(execution_id)
        await self._execution_ended(execution_id)
        if self.workflows is not None and not is_terminal(deleted.status.phase):
            try:
                await self.workflows.cancel(execution_id)
            except Exception as exc:  # the document is gone; a stray workflow fails on its own
                log.warning("cancelling workflow of deleted %s failed: %s", execution_id, exc)
        return deleted

    async def cancel(self, execution_id: str) -> api_pb2.AgentExecution:
        """Ask the workflow to stop; it records CANCELLED (so the returned execution is
        usually still running). An execution that already ended cannot be cancelled."""
        execution = await self.get(execution_id)
        if is_terminal(execution.status.phase):
            raise TerminalPhase(
                f"agent execution {execution_id!r} already ended in "
                f"{convert.phase_name(execution.status.phase)}; there is nothing to cancel"
            )
        if self.workflows is None:
            raise Unavailable("no workflow engine is configured")
        if not await self.workflows.cancel(execution_id):
            # No workflow to stop it (its start was lost): nothing else will end it.
            cancelled = api_pb2.AgentExecutionStatus(
                phase=enum_pb2.EXECUTION_CANCELLED, error="cancelled by request"
            )
            try:
                return await self.update_status(execution_id, cancelled)
            except TerminalPhase:
                return await self.get(execution_id)
        return execution

    # -- queries ----------------------------------------------------------------

    async def get(self, execution_id: str) -> api_pb2.AgentExecution:
        return await self.executions.get(require_id(execution_id, EXECUTION))

    async def list(
        self, *, session_id: str = "", phase: str = "", page_size: int = 20, page_token: str = ""
    ) -> Page[api_pb2.AgentExecution]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        if session_id and not is_valid_id(session_id):
            raise InvalidArgument("session_id is not a valid id")
        phase_name = convert.phase_name(convert.phase_from_name(phase)) if phase else None
        return await self.executions.list(
            session_id=session_id or None,
            phase=phase_name if phase_name != "EXECUTION_PHASE_UNSPECIFIED" else None,
            page_size=page_size,
            page_token=page_token,
        )

    async def watch(
        self,
        execution_id: str,
        after_version: int = 0,
        *,
        idle_seconds: float | None = None,
        states_only: bool = False,
    ) -> Watch:
        """The current state (or, resuming after `after_version`, the patches since then
        when they are still held, else one fresh state), then each patch in order, then
        one `WatchEnd` (terminal phase reached, or the execution deleted). A watcher that
        falls behind gets one fresh state; `states_only` gives whole states only
        (conflated). Subscribes before reading so nothing falls in between; an unknown id
        raises NotFound before anything is yielded. Yields None when idle: at once if
        nothing is missing (a resume at the current version: the transport can answer
        straight away), and, with `idle_seconds`, whenever that long has passed without
        yielding anything (keep-alives, on time whatever the hub does)."""
        require_id(execution_id, EXECUTION)
        if self.hub is None:
            raise Unavailable("this process does not serve watchers")
        async with contextlib.aclosing(watch_hub(self.hub, execution_id, after_version, idle_seconds, states_only)) as items:
            async for item in items:
                yield item

    # -- internals --------------------------------------------------------------

    async def _execution_ended(self, execution_id: str) -> None:
        """An execution that ended (or is gone) keeps no execution context."""
        if self.execution_contexts is not None:
            await self.execution_contexts.close_for_execution(execution_id)

    async def _publish(self, execution: api_pb2.AgentExecution) -> None:
        await self._publish_event(state_event(execution))

    async def _publish_event(self, event: BusEvent) -> None:
        await publish_safely(self.bus, self.hub, event)


async def publish_safely(bus: EventBus, hub: SubscriptionHub | None, event: BusEvent) -> None:
    """Hand a state or patch to this process's watchers, then publish it for every
    process's. A Redis failure never fails the write: watchers elsewhere also converge
    from MongoDB."""
    if hub is not None:
        hub.deliver_local(event)
    started = time.perf_counter()
    try:
        await bus.publish(event)
    except (RedisError, OSError) as exc:
        metrics.PUBLISH_FAILURES.inc()
        log.warning("publish of %s v%s failed: %s", event.execution_id, event.version, exc)
    finally:
        metrics.PUBLISH_LATENCY.observe(time.perf_counter() - started)


async def watch_hub(
    hub: SubscriptionHub,
    execution_id: str,
    after_version: int,
    idle_seconds: float | None,
    states_only: bool,
    *,
    states_alone: bool = False,
) -> AsyncGenerator[BusEvent | WatchEnd | None, None]:
    """One execution's watch as both kinds of execution serve it: what `after_version`
    misses, each later item in order, then one `WatchEnd`; None when idle (see
    `ExecutionService.watch`). `states_alone` passes over every item but whole states."""
    async with hub.watch(execution_id, states_only=states_only) as watcher:
        items: Sequence[BusEvent] | None = watcher.resume(after_version)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        if not items and not watcher.ended():
            yield None
        while True:
            for item in items or ():
                if states_alone and not isinstance(item, StateEvent):
                    continue
                yield item
                quiet_since = loop.time()
            phase = watcher.ended()
            if phase:
                yield WatchEnd(phase)  # the terminal state was sent (now or before)
                return
            wait = None if idle_seconds is None else max(0.0, quiet_since + idle_seconds - loop.time())
            items = await watcher.next(wait)
            if items is None:
                if watcher.gone:
                    yield WatchEnd(state_phase(watcher.state), deleted=True)
                    return
                yield None  # idle
                quiet_since = loop.time()
