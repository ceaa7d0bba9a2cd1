"""A run whose status grows to about 5 MB: all of it reaches MongoDB through the runner's
status channel, and none of it passes through the workflow's Temporal history (whose
payloads Temporal refuses above 2 MB)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.client import Client

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2
from domain.convert import to_json
from domain.resource_rules import DEFAULT_MODEL_ANNOTATION
from domain.status_changes import encoded_size
from domain.workflow_contract import workflow_id_for
from tests.utils.payloads import payloads_in
from tests.utils.stack import Stack, create_execution, wait_for_phase, waiting_caller

PROBE = Path(__file__).parents[1] / "integration" / "mcp_probe_server.py"
# Each result is stored three times: the tool call, the AI message that made it, its
# TOOL message; 5 × 350 kB × 3 ≈ 5.3 MB.
PARTS, PART_KB = 5, 350
MAX_PAYLOAD_BYTES = 256 * 1024


async def create_big_result_agent(stack: Stack) -> str:
    """An agent whose instructions make the scripted model call the probe server's
    `big_text` tool PARTS times (see runner/scripted_model.py, "call tool")."""
    request = Agent()
    request.metadata.name = f"big-results-{uuid.uuid4().hex[:6]}"
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = "scripted"
    request.spec.instructions = "\n".join(
        f'call tool big_text {{"kb": {PART_KB}, "tag": "part-{i}"}}' for i in range(PARTS)
    )
    probe = request.spec.mcp_servers.add(name="probe", enabled_tools=["big_text"])
    probe.stdio.command = sys.executable
    probe.stdio.args.extend([str(PROBE), "stdio"])
    agent = await stack.context.service.resources.agents.create(request)
    return agent.metadata.id


async def test_five_megabyte_status_is_stored_whole_and_never_crosses_temporal(stack: Stack) -> None:
    agent_id = await create_big_result_agent(stack)
    created = await create_execution(stack, agent_id=agent_id, message="collect the big parts")
    done = await wait_for_phase(stack, created.metadata.id, {
        enum_pb2.EXECUTION_COMPLETED, enum_pb2.EXECUTION_FAILED, enum_pb2.EXECUTION_CANCELLED,
    }, timeout=120)
    assert done.status.phase == enum_pb2.EXECUTION_COMPLETED, done.status.error

    # All of it in MongoDB: every part, whole, in its tool call and its TOOL message.
    status_bytes = encoded_size(to_json(done.status))
    assert status_bytes > 5_000_000
    big_calls = [call for call in done.status.tool_calls if call.name == "big_text"]
    assert [call.result[:7] for call in big_calls] == [f"part-{i}:" for i in range(PARTS)]
    assert all(len(call.result) == PART_KB * 1000 for call in big_calls)
    tool_texts = [m.content for m in done.status.messages if m.type == enum_pb2.MESSAGE_TOOL]
    assert sum(len(text) == PART_KB * 1000 for text in tool_texts) == PARTS
    assert not any(m.type == enum_pb2.MESSAGE_SYSTEM for m in done.status.messages)
    assert not done.status.error  # every change was delivered: nothing to report missing

    # Nothing big in the workflow's history.
    client = await Client.connect(stack.settings.temporal_address)
    history = await client.get_workflow_handle(workflow_id_for(created.metadata.id)).fetch_history()
    sizes = [payload.ByteSize() for event in history.events for payload in payloads_in(event)]
    assert sizes, "the history holds payloads (the execution, the statuses)"
    assert max(sizes) <= MAX_PAYLOAD_BYTES, f"largest history payload {max(sizes)} B of {len(sizes)}"


async def test_callback_of_a_five_megabyte_run_completes_with_a_bounded_status(stack: Stack, tmp_path) -> None:
    async with waiting_caller(stack, tmp_path) as (handle, token):
        agent_id = await create_big_result_agent(stack)
        created = await create_execution(stack, agent_id=agent_id, message="big callback", callback_token=token)
        result = await asyncio.wait_for(handle.result(), timeout=120)
        history = await handle.fetch_history()
    assert isinstance(result, api_pb2.AgentExecution)
    assert result.metadata.id == created.metadata.id
    assert result.status.phase == enum_pb2.EXECUTION_COMPLETED
    note = result.status.messages[-1]
    assert note.type == enum_pb2.MESSAGE_SYSTEM and created.metadata.id in note.content
    sizes = [payload.ByteSize() for event in history.events for payload in payloads_in(event)]
    assert max(sizes) <= MAX_PAYLOAD_BYTES
    stored = await stack.context.service.get(created.metadata.id)
    assert encoded_size(to_json(stored.status)) > 5_000_000  # the caller got a cut; storage has all
