"""The runner's activities, Stigmer's contract (domain/workflow_contract.py): EnsureThread and
ExecuteGraphton (LangGraph + progressive status)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ai.stigmer.agentic.agent.v1 import api_pb2 as agent_pb2, spec_pb2 as agent_spec_pb2
from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from ai.stigmer.commons.apiresource import io_pb2 as resource_io_pb2
from domain.errors import InvalidArgument
from domain.resource_rules import default_model
from domain.workflow_contract import AGENT_ERROR_TYPE, ENSURE_THREAD, EXECUTE_GRAPHTON, stigmer_fields_only
from infra.settings import Settings
from runner.agent_resources import (
    ReadySkill,
    merge_environments,
    remove_working_folder,
    skill_folder,
    skills_prompt,
    unpack_skill,
)
from runner.final_status import returned_status
from runner.mcp_config import (
    DockerServer,
    EnvValue,
    HttpServer,
    McpServerConfig,
    McpToolSelection,
    StdioServer,
)
from runner.service_client import ServiceClient
from runner.status_sender import StatusSender
from runner.types import AgentConfig, AgentRunRequest, SubAgentConfig

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from runner.status_builder import StatusBuilder

log = logging.getLogger(__name__)


def load_engine() -> ModuleType:
    """The agent engine: LangGraph, LangChain and the status builder (runner/engine.py).

    Imported with the first execution, not at start: a runner that has not run an agent
    yet does not hold them (about 40 MiB; README, "Memory at idle"). Called in a thread,
    so the event loop goes on (heartbeats, other activities) while it imports.
    """
    return importlib.import_module("runner.engine")


_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class RunnerActivities:
    def __init__(self, settings: Settings, client: ServiceClient) -> None:
        self._settings = settings
        self._client = client
        self._engine_loaded = False

    @activity.defn(name=ENSURE_THREAD)
    async def ensure_thread(self, session_id: str, agent_id: str) -> str:
        """A session's durable thread: its conversation is the session's stored executions,
        so the session's thread id is stable and nothing else needs creating."""
        try:
            session = await self._client.get_session(session_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _UNREACHABLE:
                raise
            return f"thread_{session_id}"  # the id every session of ours carries
        return session.spec.thread_id or f"thread_{session_id}"

    @activity.defn(name=EXECUTE_GRAPHTON)
    async def execute_graphton(
        self, execution: api_pb2.AgentExecution, thread_id: str
    ) -> api_pb2.AgentExecutionStatus:
        """Run the agent, streaming status to the server; return the final status.

        The final status also travels back to the workflow, which stores it durably, so
        an unreachable server never loses the result: its phase and times when the server
        acknowledged everything, its content too (bounded) when it did not
        (runner/final_status.py).
        """
        if not self._engine_loaded:
            await asyncio.to_thread(load_engine)
            self._engine_loaded = True
        from runner.engine import run_agent
        from runner.status_builder import StatusBuilder

        builder = StatusBuilder(execution.spec.message)
        working_folder = self._working_folder(execution.metadata.id)
        try:
            agent, env = await self._resolve_agent(execution, builder, working_folder)
        except BaseException:
            await asyncio.to_thread(remove_working_folder, working_folder)
            raise
        request = AgentRunRequest(
            execution_id=execution.metadata.id,
            session_id=execution.spec.session_id,
            thread_id=thread_id,
            message=execution.spec.message,
            model_name=execution.spec.execution_config.model_name,
            agent=agent,
            runtime_env=env,
        )
        channel = self._client.status_channel(request.execution_id)
        sender = StatusSender(
            channel,
            self._settings.update_interval_ms / 1000,
            close_timeout=self._settings.status_flush_timeout_seconds,
        )
        heartbeat = asyncio.create_task(self._heartbeat_forever())
        sender.start(builder)
        builder.mark_in_progress()
        try:
            history = await self._session_history(request)
            await run_agent(request, history, builder, settings=self._settings)
            builder.mark_completed()
        except asyncio.CancelledError:
            record_cancellation(builder)
            raise
        except Exception as exc:
            builder.mark_failed(f"{type(exc).__name__}: {exc}")
            # Agent errors are final: retrying would only repeat them.
            raise ApplicationError(
                f"agent failed: {type(exc).__name__}: {exc}", type=AGENT_ERROR_TYPE, non_retryable=True
            ) from exc
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            delivered = await asyncio.shield(sender.close())
            await asyncio.shield(channel.close())
            await asyncio.shield(asyncio.to_thread(remove_working_folder, working_folder))
        # What a Stigmer workflow decodes as protobuf JSON: Stigmer's fields only.
        return stigmer_fields_only(
            returned_status(builder.snapshot(), delivered=delivered, partly_stored=sender.sent > 0)
        )

    def _working_folder(self, execution_id: str) -> Path:
        root = Path(self._settings.runner_work_dir or tempfile.gettempdir()) / "stigmer-runs"
        return root / execution_id

    async def _resolve_agent(
        self, execution: api_pb2.AgentExecution, builder: StatusBuilder, working_folder: Path
    ) -> tuple[AgentConfig, dict[str, EnvValue]]:
        """execution → session → agent instance → agent, over gRPC, with the agent's skills
        (unpacked into `working_folder`, their SKILL.md added to the instructions) and the
        values the run gets (the instance's environments, then the execution's
        runtime_env). A chain that is gone fails the run; a server that cannot be reached
        leaves the agent's defaults, said in the status (the run still ends through the
        workflow, which stores it)."""
        try:
            session = await self._client.get_session(execution.spec.session_id)
            instance, agent = await self._client.instance_and_agent_of_session(session)
            config = agent_config(agent)
            environments = [
                await self._client.environment_by_reference(ref) for ref in instance.spec.environment_refs
            ]
            config.instructions += skills_prompt(
                await self._ready_skills(agent.spec.skill_refs, working_folder, builder)
            )
            for sub, sub_config in zip(agent.spec.sub_agents, config.sub_agents, strict=True):
                sub_config.instructions += skills_prompt(
                    await self._ready_skills(sub.skill_refs, working_folder, builder)
                )
            return config, merge_environments(environments, runtime_env(execution))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _UNREACHABLE:
                raise ApplicationError(
                    f"cannot resolve the execution's agent: {exc.code().name}: {exc.details()}",
                    type=AGENT_ERROR_TYPE,
                    non_retryable=True,
                ) from exc
            builder.add_system_note(
                "the agent's definition could not be read (the service was unreachable); "
                "this run used the default instructions and tools"
            )
            return AgentConfig(name=execution.spec.agent_id or "agent", instructions=""), runtime_env(execution)

    async def _ready_skills(
        self,
        refs: Sequence[resource_io_pb2.ApiResourceReference],
        working_folder: Path,
        builder: StatusBuilder,
    ) -> list[ReadySkill]:
        """Resolve, fetch and unpack each skill. A skill whose artifact is gone still gives
        its SKILL.md (said in the status); an archive the runner refuses fails the run."""
        ready = []
        for ref in refs:
            skill = await self._client.skill_by_reference(ref)
            folder = skill_folder(working_folder, skill)
            try:
                artifact = await self._client.skill_artifact(skill.status.artifact_storage_key)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                builder.add_system_note(f"skill {skill.metadata.name!r} has no artifact; only its SKILL.md is used")
            else:
                try:
                    await asyncio.to_thread(unpack_skill, artifact, folder)
                except InvalidArgument as exc:
                    raise ApplicationError(
                        f"skill {skill.metadata.name!r} cannot be unpacked: {exc.message}",
                        type=AGENT_ERROR_TYPE,
                        non_retryable=True,
                    ) from None
            ready.append(ReadySkill(skill.metadata.name, skill.spec.skill_md, folder))
        return ready

    async def _session_history(self, request: AgentRunRequest) -> list[BaseMessage]:
        """The session's conversation so far. A run never goes on without it: answering
        as if the conversation had not happened would be wrong, not degraded."""
        try:
            return await self._client.session_history(request.session_id, exclude_id=request.execution_id)
        except grpc.aio.AioRpcError as exc:
            raise SessionHistoryUnavailable(
                f"the history of session {request.session_id} could not be read "
                f"({exc.code().name}: {exc.details()}); the run stopped rather than forget it"
            ) from exc

    async def _heartbeat_forever(self) -> None:
        """Time-based heartbeats: a slow model call must not look like a dead runner."""
        while True:
            activity.heartbeat()
            await asyncio.sleep(self._settings.heartbeat_interval_seconds)


class SessionHistoryUnavailable(Exception):
    """The session's earlier turns could not be read."""


def record_cancellation(builder: StatusBuilder) -> None:
    """Only a cancel the workflow asked for is recorded here as CANCELLED. Any other stop
    (a timeout, the task gone from the server, a worker shutting down) leaves the final
    phase to the workflow, which knows the reason and writes a readable FAILED."""
    details = activity.cancellation_details()
    if details is not None and details.cancel_requested:
        builder.mark_cancelled()


def agent_config(agent: agent_pb2.Agent) -> AgentConfig:
    """The engine's view of a stored AgentSpec: instructions, MCP servers, sub-agents with
    their server selections; the default model is the agent's annotation."""
    spec = agent.spec
    return AgentConfig(
        name=agent.metadata.name,
        instructions=spec.instructions,
        model_name=default_model(agent),
        mcp_servers=[mcp_server_config(server) for server in spec.mcp_servers],
        sub_agents=[
            SubAgentConfig(
                sub.name,
                sub.instructions,
                mcp_servers=list(sub.mcp_servers),
                mcp_tool_selections={
                    name: McpToolSelection(list(selection.enabled_tools))
                    for name, selection in sub.mcp_tool_selections.items()
                },
            )
            for sub in spec.sub_agents
        ],
    )


def mcp_server_config(server: agent_spec_pb2.McpServerDefinition) -> McpServerConfig:
    kind = server.WhichOneof("server_type")
    stdio = http = docker = None
    if kind == "stdio":
        stdio = StdioServer(
            server.stdio.command, list(server.stdio.args), dict(server.stdio.env_placeholders),
            server.stdio.working_dir,
        )
    elif kind == "http":
        http = HttpServer(
            server.http.url, dict(server.http.headers), dict(server.http.query_params),
            server.http.timeout_seconds,
        )
    elif kind == "docker":
        docker = DockerServer(
            server.docker.image, list(server.docker.args), dict(server.docker.env_placeholders),
            server.docker.network,
        )
    return McpServerConfig(server.name, stdio, http, docker, list(server.enabled_tools))


def runtime_env(execution: api_pb2.AgentExecution) -> dict[str, EnvValue]:
    return {
        name: EnvValue(value.value, value.is_secret) for name, value in execution.spec.runtime_env.items()
    }
