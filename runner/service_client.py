"""The runner's only line to the service, over gRPC: status updates, session history, the
resource chain execution → session → agent instance → agent (as Stigmer's runner), and
what the chain references: the agent's skills (and their artifacts) and the instance's
environments."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ai.stigmer.agentic.agent.v1 import (
    api_pb2 as agent_pb2,
    io_pb2 as agent_io_pb2,
    query_pb2_grpc as agent_query_grpc,
)
from ai.stigmer.agentic.agentexecution.v1 import (
    api_pb2,
    command_pb2_grpc,
    enum_pb2,
    io_pb2,
    patch_pb2,
    query_pb2_grpc,
)
from ai.stigmer.agentic.agentinstance.v1 import (
    api_pb2 as instance_pb2,
    io_pb2 as instance_io_pb2,
    query_pb2_grpc as instance_query_grpc,
)
from ai.stigmer.agentic.environment.v1 import (
    api_pb2 as environment_pb2,
    query_pb2_grpc as environment_query_grpc,
)
from ai.stigmer.agentic.session.v1 import (
    api_pb2 as session_pb2,
    io_pb2 as session_io_pb2,
    query_pb2_grpc as session_query_grpc,
)
from ai.stigmer.agentic.skill.v1 import (
    api_pb2 as skill_pb2,
    io_pb2 as skill_io_pb2,
    query_pb2_grpc as skill_query_grpc,
)
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from domain.skill_archive import MAX_ARCHIVE_BYTES
from domain.status_changes import Change
from domain.status_rules import TERMINAL_PHASES
from infra.grpc_channel import bearer_metadata, service_channel

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    PatchStream = grpc.aio.StreamStreamCall[
        patch_pb2.AgentExecutionStatusPatch, patch_pb2.AgentExecutionStatusPatchResult
    ]

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5.0
ARTIFACT_TIMEOUT_SECONDS = 120.0  # up to 100 MB
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# A skill's ZIP (up to 100 MB) arrives whole in getArtifact's answer.
MAX_RECEIVE_BYTES = MAX_ARCHIVE_BYTES + 1024 * 1024
# How many earlier executions of its session a run remembers.
HISTORY_EXECUTIONS = 100
# Called generically so the runner does not depend on regenerated command stubs, and
# still talks to servers (Stigmer's own) that lack the method.
APPLY_STATUS_PATCH = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/applyStatusPatch"
STREAM_STATUS_PATCHES = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/streamStatusPatches"
# How long a finished run waits for the server to store what its stream published.
STREAM_CLOSE_TIMEOUT_SECONDS = 10.0
# The answers that mean "the execution already ended, or is gone": nothing left to send.
_ENDED = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


class ServiceClient:
    def __init__(self, target: str, api_key: str = "") -> None:
        # updateStatus answers with the whole stored execution: as large as what is sent.
        self._channel = service_channel(target, MAX_MESSAGE_BYTES, MAX_RECEIVE_BYTES)
        self._metadata = bearer_metadata(api_key)
        self._commands = command_pb2_grpc.AgentExecutionCommandControllerStub(self._channel)
        self._queries = query_pb2_grpc.AgentExecutionQueryControllerStub(self._channel)
        self._sessions = session_query_grpc.SessionQueryControllerStub(self._channel)
        self._instances = instance_query_grpc.AgentInstanceQueryControllerStub(self._channel)
        self._agents = agent_query_grpc.AgentQueryControllerStub(self._channel)
        self._skills = skill_query_grpc.SkillQueryControllerStub(self._channel)
        self._environments = environment_query_grpc.EnvironmentQueryControllerStub(self._channel)
        self._apply_patch = self._channel.unary_unary(
            APPLY_STATUS_PATCH,
            request_serializer=patch_pb2.AgentExecutionStatusPatch.SerializeToString,
            response_deserializer=patch_pb2.AgentExecutionStatusPatchResult.FromString,
        )
        self._stream_patches = self._channel.stream_stream(
            STREAM_STATUS_PATCHES,
            request_serializer=patch_pb2.AgentExecutionStatusPatch.SerializeToString,
            response_deserializer=patch_pb2.AgentExecutionStatusPatchResult.FromString,
        )

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def update_status(
        self, execution_id: str, status: api_pb2.AgentExecutionStatus, sequence: int
    ) -> None:
        """Send one whole status. An execution that already ended (FAILED_PRECONDITION,
        e.g. cancelled meanwhile) or was deleted is not an error worth retrying."""
        try:
            await self.send_whole_status(execution_id, status, sequence)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _ENDED:
                raise

    async def send_whole_status(
        self, execution_id: str, status: api_pb2.AgentExecutionStatus, sequence: int
    ) -> None:
        """`updateStatus`, every error raised."""
        await self._commands.updateStatus(
            io_pb2.AgentExecutionUpdateStatusInput(
                execution_id=execution_id, status=status, sequence=sequence
            ),
            metadata=self._metadata,
            timeout=SEND_TIMEOUT_SECONDS,
        )

    def status_channel(self, execution_id: str) -> GrpcStatusChannel:
        """The `StatusChannel` of one run (runner/status_sender.py)."""
        return GrpcStatusChannel(self, execution_id)

    async def apply_status_patch(
        self, patch: patch_pb2.AgentExecutionStatusPatch
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        result: patch_pb2.AgentExecutionStatusPatchResult = await self._apply_patch(
            patch, metadata=self._metadata, timeout=SEND_TIMEOUT_SECONDS
        )
        return result

    def open_status_stream(self) -> PatchStream:
        """A `streamStatusPatches` call: write a patch, read its answer, in turn."""
        # No request iterator: the call is written to (and read from) in turn.
        return cast("PatchStream", self._stream_patches(metadata=self._metadata))  # type: ignore[call-arg]

    async def get_session(self, session_id: str) -> session_pb2.Session:
        session: session_pb2.Session = await self._sessions.get(
            session_io_pb2.SessionId(value=session_id), metadata=self._metadata, timeout=SEND_TIMEOUT_SECONDS
        )
        return session

    async def agent_of_session(self, session: session_pb2.Session) -> agent_pb2.Agent:
        """session → agent instance → agent."""
        return (await self.instance_and_agent_of_session(session))[1]

    async def instance_and_agent_of_session(
        self, session: session_pb2.Session
    ) -> tuple[instance_pb2.AgentInstance, agent_pb2.Agent]:
        """session → agent instance → agent."""
        instance: instance_pb2.AgentInstance = await self._instances.get(
            instance_io_pb2.AgentInstanceId(value=session.spec.agent_instance_id),
            metadata=self._metadata,
            timeout=SEND_TIMEOUT_SECONDS,
        )
        agent: agent_pb2.Agent = await self._agents.get(
            agent_io_pb2.AgentId(value=instance.spec.agent_id), metadata=self._metadata, timeout=SEND_TIMEOUT_SECONDS
        )
        return instance, agent

    async def skill_by_reference(self, ref: resource_io_pb2.ApiResourceReference) -> skill_pb2.Skill:
        skill: skill_pb2.Skill = await self._skills.getByReference(
            ref, metadata=self._metadata, timeout=SEND_TIMEOUT_SECONDS
        )
        return skill

    async def skill_artifact(self, artifact_storage_key: str) -> bytes:
        reply = await self._skills.getArtifact(
            skill_io_pb2.GetArtifactRequest(artifact_storage_key=artifact_storage_key),
            metadata=self._metadata,
            timeout=ARTIFACT_TIMEOUT_SECONDS,
        )
        return bytes(reply.artifact)

    async def environment_by_reference(
        self, ref: resource_io_pb2.ApiResourceReference
    ) -> environment_pb2.Environment:
        """With a runner's key, secret values arrive in the clear."""
        environment: environment_pb2.Environment = await self._environments.getByReference(
            ref, metadata=self._metadata, timeout=SEND_TIMEOUT_SECONDS
        )
        return environment

    async def session_history(self, session_id: str, *, exclude_id: str) -> list[BaseMessage]:
        """The conversation so far in the session: its newest `HISTORY_EXECUTIONS`
        executions that finished, oldest first.

        Read a page at a time (the server cuts pages by bytes too, so big runs come a
        few per page); any failure is raised, never taken for an empty history."""
        newest_first: list[api_pb2.AgentExecution] = []
        token = ""
        while len(newest_first) < HISTORY_EXECUTIONS:
            page = await self._queries.listBySession(
                io_pb2.ListAgentExecutionsBySessionRequest(
                    session_id=session_id, page_size=HISTORY_EXECUTIONS - len(newest_first), page_token=token,
                ),
                metadata=self._metadata,
                timeout=SEND_TIMEOUT_SECONDS,
            )
            newest_first.extend(page.entries)
            token = page.next_page_token
            if not token or not page.entries:
                break
        history: list[BaseMessage] = []
        for execution in reversed(newest_first):
            if execution.metadata.id == exclude_id or execution.status.phase not in TERMINAL_PHASES:
                continue
            history.extend(_conversation_messages(execution))
        return history


class GrpcStatusChannel:
    """One run's status line to the server: patches on one `streamStatusPatches` stream
    (each answered in turn), whole statuses through `updateStatus`.

    A broken stream fails that send (the sender then sends the whole status, and the next
    patch opens a new stream). A server without the stream (UNIMPLEMENTED) gets patches
    through `applyStatusPatch`; one without that either (e.g. Stigmer's own) gets whole
    statuses for the rest of the run: the answer asks the sender to resync, and
    `incremental` turns False. Once the server says the execution ended or is gone
    (FAILED_PRECONDITION, NOT_FOUND), nothing more is sent and every send counts as done.
    `close` ends the stream once the server has stored what it published.
    """

    def __init__(self, client: ServiceClient, execution_id: str) -> None:
        self._client = client
        self._execution_id = execution_id
        self._stream: PatchStream | None = None
        self.streaming = True
        self.incremental = True
        self.ended = False

    async def send_changes(
        self, changes: list[Change], sequence: int
    ) -> patch_pb2.AgentExecutionStatusPatchResult:
        if self.ended:
            return patch_pb2.AgentExecutionStatusPatchResult()
        patch = patch_message(self._execution_id, sequence, changes)
        try:
            if self.streaming:
                try:
                    return await self._on_stream(patch)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                        raise
                    log.info("server has no status stream; sending patches one by one for %s", self._execution_id)
                    self.streaming = False
            return await self._client.apply_status_patch(patch)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                log.info("server has no applyStatusPatch; sending whole statuses for %s", self._execution_id)
                self.incremental = False
                return patch_pb2.AgentExecutionStatusPatchResult(resync_needed=True)
            if exc.code() in _ENDED:
                self.ended = True
                return patch_pb2.AgentExecutionStatusPatchResult()
            raise

    async def _on_stream(self, patch: patch_pb2.AgentExecutionStatusPatch) -> patch_pb2.AgentExecutionStatusPatchResult:
        if self._stream is None:
            self._stream = self._client.open_status_stream()
        stream = self._stream
        try:
            await stream.write(patch)
            answer = await stream.read()
        except BaseException:
            self._drop_stream()  # its state is unknown (a timeout, a broken call)
            raise
        if not isinstance(answer, patch_pb2.AgentExecutionStatusPatchResult):  # ended without an answer
            self._drop_stream()
            raise ConnectionError("the status stream ended without answering")
        return answer

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None

    async def close(self) -> None:
        """End the stream, once the server has stored what it published (bounded)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            async with asyncio.timeout(STREAM_CLOSE_TIMEOUT_SECONDS):
                await stream.done_writing()
                await stream.code()
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            log.warning("status stream of %s did not close cleanly: %r", self._execution_id, exc)
            stream.cancel()

    async def send_whole(self, status: api_pb2.AgentExecutionStatus, sequence: int) -> None:
        if self.ended:
            return
        try:
            await self._client.send_whole_status(self._execution_id, status, sequence)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _ENDED:
                raise
            self.ended = True


def patch_message(
    execution_id: str, sequence: int, changes: list[Change]
) -> patch_pb2.AgentExecutionStatusPatch:
    """The patch of `changes` (their proto JSON) as a message. Text appends, most of a
    run's changes, are set field by field; other changes are parsed from their JSON."""
    patch = patch_pb2.AgentExecutionStatusPatch(execution_id=execution_id, sequence=sequence)
    for change in changes:
        body = change.get("append_text")
        if body is not None and len(change) == 1:
            append = patch.changes.add().append_text
            append.index = body.get("index", 0)
            append.offset = body.get("offset", 0)
            append.text = body.get("text", "")
            continue
        body = change.get("put_sub_agent")
        out = patch.changes.add()
        if body is not None and len(change) == 1 and _set_flat(out.put_sub_agent.sub_agent, body.get("sub_agent")):
            out.put_sub_agent.index = body.get("index", 0)
        else:
            out.Clear()
            json_format.ParseDict(change, out)
    return patch


_STRING = FieldDescriptor.TYPE_STRING
_ENUM = FieldDescriptor.TYPE_ENUM


def _set_flat(message: Message, values: object) -> bool:
    """Fill `message` from proto JSON whose fields are all strings and enums (a
    sub-agent as a token leaves it); False, and nothing to rely on, for anything else."""
    if not isinstance(values, dict):
        return False
    fields = message.DESCRIPTOR.fields_by_name
    try:
        for name, value in values.items():
            field = fields.get(name)
            if field is None or not isinstance(value, str):
                return False
            if field.type == _STRING:
                setattr(message, name, value)
            elif field.type == _ENUM and field.enum_type is not None and value in field.enum_type.values_by_name:
                setattr(message, name, field.enum_type.values_by_name[value].number)
            else:
                return False
    except (AttributeError, TypeError, ValueError):  # e.g. a repeated field
        return False
    return True


def _conversation_messages(execution: api_pb2.AgentExecution) -> list[BaseMessage]:
    """Human turns and the final AI answers: what a later turn needs to remember."""
    # The engine's, which the runner imports with its first execution (runner/activities.py).
    from langchain_core.messages import AIMessage, HumanMessage

    messages: list[BaseMessage] = [HumanMessage(execution.spec.message)]
    answers = [
        m.content
        for m in execution.status.messages
        if m.type == enum_pb2.MESSAGE_AI and m.content and not m.tool_calls
    ]
    if answers:
        messages.append(AIMessage(answers[-1]))
    return messages

