"""Starting and cancelling an execution's workflow (used by the service layer)."""

from __future__ import annotations

import base64

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2
from ai.stigmer.agentic.session.v1.api_pb2 import Session
from core.resources import default_model
from runner.tools import BUILTIN_TOOLS
from runner.types import AgentConfig, AgentRunRequest, SubAgentConfig
from stigmer_service.settings import Settings
from workflows.types import WORKFLOW_NAME, ExecutionWorkflowInput, WorkflowTimeouts, workflow_id_for


def agent_config(agent: Agent) -> AgentConfig:
    """The runner's view of an AgentSpec. MCP tools the runner has built in (by name)
    are given to the agent; the default model is the agent's annotation."""
    spec = agent.spec
    enabled = [tool for server in spec.mcp_servers for tool in server.enabled_tools]
    return AgentConfig(
        name=agent.metadata.name,
        instructions=spec.instructions,
        model_name=default_model(agent),
        tools=list(dict.fromkeys(t for t in enabled if t in BUILTIN_TOOLS)),
        sub_agents=[SubAgentConfig(s.name, s.instructions) for s in spec.sub_agents],
    )


class TemporalWorkflowControl:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def start(self, execution: api_pb2.AgentExecution, agent: Agent, session: Session) -> None:
        """Idempotent: the workflow id is derived from the execution id."""
        spec = execution.spec
        settings = self._settings
        request = ExecutionWorkflowInput(
            run=AgentRunRequest(
                execution_id=execution.metadata.id,
                session_id=session.metadata.id,
                thread_id=session.spec.thread_id,
                message=spec.message,
                model_name=spec.execution_config.model_name,
                agent=agent_config(agent),
            ),
            runner_task_queue=settings.runner_task_queue,
            callback_token=base64.b64encode(spec.callback_token).decode() if spec.callback_token else "",
            timeouts=WorkflowTimeouts(
                runner_pickup_seconds=settings.runner_pickup_timeout_seconds,
                execution_seconds=settings.execution_timeout_seconds,
                heartbeat_seconds=settings.heartbeat_timeout_seconds,
            ),
        )
        try:
            await self._client.start_workflow(
                WORKFLOW_NAME,
                request,
                id=workflow_id_for(execution.metadata.id),
                task_queue=settings.workflow_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass

    async def cancel(self, execution_id: str) -> None:
        try:
            await self._client.get_workflow_handle(workflow_id_for(execution_id)).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
