"""Workflow executions: the use cases both transports call.

Like agent executions: create stores a PENDING execution and starts Temporal's
`stigmer/workflow-execution/invoke`; the workflow runner's `updateStatus` calls merge into
the stored status (domain/workflow_execution_rules.py), each as one update conditional on
the version it was computed from, then one Redis publish of the new state; watchers get
the state, each newer state, and the end. Watching shares the agent executions' hub:
one Redis subscription and one periodic MongoDB check per watched execution per process,
the loader picking the store by the id's kind (`wex_…`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Protocol, cast

from google.protobuf import json_format
from redis.exceptions import RedisError

from ai.stigmer.agentic.workflowexecution.v1 import api_pb2, enum_pb2
from application.executions import WatchEnd, watch_hub
from application.hub import LoadHead, LoadState, LoadVersion, SubscriptionHub
from application.workflows import WorkflowService
from domain.callback_token import validate_callback_token
from domain.convert import API_VERSION, workflow_execution_to_body
from domain.errors import InvalidArgument, NotFound, StatusTooLarge, TerminalPhase, Unavailable
from domain.events import StateEvent
from domain.ids import is_valid_id, new_id, require_id
from domain.pages import Page
from domain.status_rules import Decision, is_terminal
from domain.timestamps import now_rfc3339
from domain.workflow_execution_rules import (
    KIND,
    decide_update,
    merge_status,
    phase_from_name,
    phase_name,
    status_json,
    validate_new_execution,
    validate_status_update,
)
from domain.workflow_runner_contract import execution_workflow_id
from infra import metrics
from infra.keyed_lock import KeyedLocks
from persistence.bus import EventBus
from persistence.workflows import WorkflowExecutionStore

log = logging.getLogger(__name__)

ID_PREFIX = "wex"
# The most a status may hold, as for agent executions (under MongoDB's 16 MiB per document).
MAX_STATUS_BYTES = 15 * 1024 * 1024
TOO_LARGE = "the status of this workflow execution outgrew the limit of"
WRITE_ATTEMPTS = 5

# What a watch yields: a whole state, its end, or None when idle.
WorkflowWatch = AsyncGenerator[StateEvent | WatchEnd | None, None]


class WorkflowExecutionControl(Protocol):
    """Starts and cancels an execution's Temporal workflow (workflows/workflow_starters.py)."""

    async def start(self, execution: api_pb2.WorkflowExecution) -> None: ...

    async def cancel(self, execution_id: str) -> bool: ...


def is_workflow_execution_id(value: str) -> bool:
    return value.startswith(f"{ID_PREFIX}_")


def too_large(current: api_pb2.WorkflowExecutionStatus, limit: int) -> api_pb2.WorkflowExecutionStatus:
    """What is stored instead of a status that would outgrow `limit`: the stored one,
    ended FAILED saying why (a document must fit MongoDB's 16 MiB)."""
    ended = api_pb2.WorkflowExecutionStatus()
    ended.CopyFrom(current)
    ended.phase = enum_pb2.EXECUTION_FAILED
    ended.error = f"{TOO_LARGE} {limit} bytes; the update that would have grown it was dropped"
    ended.completed_at = ended.completed_at or now_rfc3339()
    return ended


def state_event(execution: api_pb2.WorkflowExecution) -> StateEvent:
    return StateEvent(execution.metadata.id, execution.status.version, workflow_execution_to_body(execution))


def state_loader(store: WorkflowExecutionStore) -> LoadState:
    async def load(execution_id: str) -> StateEvent | None:
        try:
            return state_event(await store.get(execution_id))
        except NotFound:
            return None

    return load


def by_execution_kind(agent: Callable[[str], Awaitable[Any]], workflow: Callable[[str], Awaitable[Any]]) -> Any:
    """One hub loader for both kinds of execution, picked by the id's prefix."""

    async def load(execution_id: str) -> Any:
        return await (workflow if is_workflow_execution_id(execution_id) else agent)(execution_id)

    return load


def loaders(
    store: WorkflowExecutionStore, agent_state: LoadState, agent_version: LoadVersion, agent_head: LoadHead
) -> tuple[LoadState, LoadVersion, LoadHead]:
    """The hub's loaders for both kinds of execution."""
    return (
        by_execution_kind(agent_state, state_loader(store)),
        by_execution_kind(agent_version, store.version_of),
        by_execution_kind(agent_head, store.head_of),
    )


WORKFLOW_EXECUTION = "workflow execution"  # what a missing or unknown id names


class WorkflowExecutionService:
    def __init__(
        self,
        *,
        executions: WorkflowExecutionStore,
        workflows: WorkflowService,
        bus: EventBus,
        hub: SubscriptionHub | None,
        control: WorkflowExecutionControl | None = None,
        max_status_bytes: int = MAX_STATUS_BYTES,
    ) -> None:
        self.max_status_bytes = max_status_bytes
        self.executions = executions
        self.workflows = workflows
        self.bus = bus
        self.hub = hub
        self.control = control
        self._update_locks = KeyedLocks()  # update + publish as one step per execution

    # -- commands -----------------------------------------------------------------------

    async def create(self, request: api_pb2.WorkflowExecution) -> api_pb2.WorkflowExecution:
        """Store a PENDING execution of the instance (the workflow's default one when only
        the workflow is named) and start its Temporal workflow."""
        validate_new_execution(request)
        if request.spec.callback_token:
            validate_callback_token(request.spec.callback_token)
        instance, workflow = await self.workflows.resolve_instance(
            request.spec.workflow_id, request.spec.workflow_instance_id
        )
        new = api_pb2.WorkflowExecution(api_version=API_VERSION, kind=KIND)
        new.metadata.CopyFrom(request.metadata)
        new.metadata.id = new_id(ID_PREFIX)
        new.metadata.name = new.metadata.name or new.metadata.id
        new.metadata.slug = new.metadata.slug or new.metadata.id
        if not new.metadata.org and workflow.metadata.org:
            new.metadata.org = workflow.metadata.org
        new.spec.CopyFrom(request.spec)
        new.spec.workflow_instance_id = instance.metadata.id
        new.spec.workflow_id = workflow.metadata.id
        new.status.phase = enum_pb2.EXECUTION_PENDING
        if self.control is not None:
            new.status.temporal_workflow_id = execution_workflow_id(new.metadata.id)
        stored = await self.executions.insert(new)
        if self.control is not None:
            try:
                await self.control.start(stored)
            except Exception as exc:
                # Nothing half-made: without its workflow the execution would never run.
                log.error("starting the workflow of %s failed: %s", stored.metadata.id, exc)
                await self.executions.delete(stored.metadata.id)
                raise Unavailable("could not start the execution's workflow; try again") from exc
        await self._publish(stored)
        return stored

    async def update(self, request: api_pb2.WorkflowExecution) -> api_pb2.WorkflowExecution:
        """User edits of what still means something after creation: runtime_env and
        trigger_metadata (non-empty ones replace)."""
        execution_id = require_id(request.metadata.id, WORKFLOW_EXECUTION)
        fields: dict[str, Any] = {}
        body = json_format.MessageToDict(request.spec, preserving_proto_field_name=True)
        for name in ("runtime_env", "trigger_metadata"):
            if name in body:
                fields[name] = body[name]
        probe = api_pb2.WorkflowExecution()
        probe.spec.workflow_id = "-"  # only the maps are checked here
        probe.spec.runtime_env.MergeFrom(request.spec.runtime_env)
        probe.spec.trigger_metadata.update(request.spec.trigger_metadata)
        validate_new_execution(probe)
        async with self._update_locks.hold(execution_id):
            updated = await self.executions.set_spec_fields(execution_id, fields)
            await self._publish(updated)
        return updated

    async def update_status(
        self, execution_id: str, status: api_pb2.WorkflowExecutionStatus | None, sequence: int = 0
    ) -> api_pb2.WorkflowExecution:
        """Merge a runner's update (domain/workflow_execution_rules.py) and publish the
        stored state. Stale or repeated updates are acknowledged without change; anything
        after a terminal phase other than a repeat of it is FAILED_PRECONDITION."""
        status = validate_status_update(execution_id, status)
        require_id(execution_id, WORKFLOW_EXECUTION)
        if sequence < 0:
            raise InvalidArgument("sequence must not be negative")
        async with self._update_locks.hold(execution_id):
            for _ in range(WRITE_ATTEMPTS):
                stored = await self.executions.read(execution_id)
                current = stored.execution.status
                decision = decide_update(current.phase, stored.sequence, status, sequence)
                if decision is Decision.REFUSED:
                    raise TerminalPhase(
                        f"workflow execution {execution_id!r} already ended in {phase_name(current.phase)}; "
                        "its status is final"
                    )
                if decision is not Decision.APPLY:
                    return stored.execution
                merged = merge_status(current, status, now_rfc3339())
                merged_json = status_json(merged)
                changed = merged_json != status_json(current)
                if changed and len(json.dumps(merged_json)) > self.max_status_bytes:
                    merged = too_large(current, self.max_status_bytes)
                new_sequence = max(sequence, stored.sequence)
                if not changed and new_sequence == stored.sequence:
                    return stored.execution
                if await self.executions.write_status(
                    execution_id, stored.version, merged if changed else None, new_sequence
                ):
                    if not changed:
                        return stored.execution
                    result = api_pb2.WorkflowExecution()
                    result.CopyFrom(stored.execution)
                    result.status.CopyFrom(merged)
                    result.status.version = stored.version + 1
                    await self._publish(result)
                    if merged.error.startswith(TOO_LARGE) and not current.error.startswith(TOO_LARGE):
                        raise StatusTooLarge(merged.error)
                    return result
            raise Unavailable(f"status of {execution_id!r} kept changing while it was written")

    async def delete(self, execution_id: str) -> api_pb2.WorkflowExecution:
        """Delete the execution and stop its Temporal workflow (watchers end)."""
        deleted = await self.executions.delete(require_id(execution_id, WORKFLOW_EXECUTION))
        if self.control is not None and not is_terminal(deleted.status.phase):
            try:
                await self.control.cancel(execution_id)
            except Exception as exc:  # the document is gone; a stray workflow fails on its own
                log.warning("cancelling the workflow of deleted %s failed: %s", execution_id, exc)
        return deleted

    async def cancel(self, execution_id: str) -> api_pb2.WorkflowExecution:
        """Ask the Temporal workflow to stop; it records CANCELLED. An execution without a
        workflow is CANCELLED at once; one that already ended cannot be cancelled."""
        execution = await self.get(execution_id)
        if is_terminal(execution.status.phase):
            raise TerminalPhase(
                f"workflow execution {execution_id!r} already ended in {phase_name(execution.status.phase)}; "
                "there is nothing to cancel"
            )
        if self.control is None:
            raise Unavailable("no workflow engine is configured")
        if not await self.control.cancel(execution_id):
            cancelled = api_pb2.WorkflowExecutionStatus(phase=enum_pb2.EXECUTION_CANCELLED, error="cancelled by request")
            try:
                return await self.update_status(execution_id, cancelled)
            except TerminalPhase:
                return await self.get(execution_id)
        return execution

    # -- queries ------------------------------------------------------------------------

    async def get(self, execution_id: str) -> api_pb2.WorkflowExecution:
        return await self.executions.get(require_id(execution_id, WORKFLOW_EXECUTION))

    async def list(
        self, *, workflow_id: str = "", phase: str = "", page_size: int = 20, page_token: str = ""
    ) -> Page[api_pb2.WorkflowExecution]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        if workflow_id and not is_valid_id(workflow_id):
            raise InvalidArgument("workflow_id is not a valid id")
        phase_filter = ""
        if phase:
            value = phase_from_name(phase)
            phase_filter = phase_name(value) if value else ""
        return await self.executions.page(
            workflow_id=workflow_id, phase=phase_filter, page_size=page_size, page_token=page_token
        )

    async def watch(self, execution_id: str, after_version: int = 0, *, idle_seconds: float | None = None) -> WorkflowWatch:
        """The current state (nothing when resuming at it), each newer stored state
        (conflated), then one `WatchEnd`: at the terminal phase (at once when it had
        already ended), or when the execution is deleted. None when idle, as in
        `ExecutionService.watch`. Unknown id: NotFound before anything is yielded."""
        require_id(execution_id, WORKFLOW_EXECUTION)
        if self.hub is None:
            raise Unavailable("this process does not serve watchers")
        await self.executions.get(execution_id)  # NotFound names the right kind
        watch = watch_hub(self.hub, execution_id, after_version, idle_seconds, True, states_alone=True)
        async with contextlib.aclosing(watch) as items:
            async for item in items:
                yield cast("StateEvent | WatchEnd | None", item)  # states_alone: no patches

    # -- internals ----------------------------------------------------------------------

    async def _publish(self, execution: api_pb2.WorkflowExecution) -> None:
        """A Redis failure never fails the write: watchers also converge from MongoDB."""
        try:
            await self.bus.publish(state_event(execution))
        except (RedisError, OSError) as exc:
            metrics.PUBLISH_FAILURES.inc()
            log.warning("publish of %s v%s failed: %s", execution.metadata.id, execution.status.version, exc)
