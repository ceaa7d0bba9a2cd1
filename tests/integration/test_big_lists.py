"""Lists of big executions: pages are cut by bytes as well as by count, so two 9 MB runs
in one session list over gRPC (16 MiB messages) and REST, and a runner reads the whole
session history a page at a time (real MongoDB stand-in and gRPC)."""

from __future__ import annotations

import grpc
import pytest

from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
from ai.stigmer.agentic.agentexecution.v1 import api_pb2, enum_pb2, io_pb2
from api.grpc_server import MAX_MESSAGE_BYTES
from core.context import ServerContext
from core.settings import Settings
from persistence.pagination import MAX_PAGE_BYTES
from runner.activities import RunnerActivities, SessionHistoryUnavailable
from runner.service_client import ServiceClient
from runner.types import AgentConfig, AgentRunRequest
from tests.integration.conftest import GrpcStubs
from tests.utils.http import EXECUTIONS, HttpApi

MESSAGE_BYTES = 1024 * 1024
MESSAGES = 9  # 9 MiB per execution: two of them do not fit one gRPC message


async def big_run(context: ServerContext, session_id: str, agent: Agent, turn: str) -> str:
    """A COMPLETED execution of about 9 MiB whose last AI message answers `turn`."""
    request = api_pb2.AgentExecution()
    request.spec.agent_id = agent.metadata.id
    request.spec.session_id = session_id
    request.spec.message = turn
    created, _ = await context.service.create(request)
    status = api_pb2.AgentExecutionStatus(phase=enum_pb2.EXECUTION_COMPLETED)
    for i in range(MESSAGES - 1):
        status.messages.add(type=enum_pb2.MESSAGE_AI, content=f"{i}" * MESSAGE_BYTES)
    status.messages.add(type=enum_pb2.MESSAGE_AI, content=f"answer to {turn} " + "z" * MESSAGE_BYTES)
    await context.service.update_status(created.metadata.id, status)
    return created.metadata.id


@pytest.fixture
async def big_session(context: ServerContext, agent: Agent) -> tuple[str, list[str]]:
    """A session holding two ~9 MiB executions (oldest first) and a small one."""
    session = await context.service.resources.resolve_execution_target("", agent.metadata.id, subject="big")
    session_id = session.session.metadata.id
    ids = [await big_run(context, session_id, agent, turn) for turn in ("first", "second")]
    return session_id, ids


async def test_two_9_mb_runs_list_a_page_each_and_the_runner_remembers_both(
    grpc_api: GrpcStubs, big_session: tuple[str, list[str]]
) -> None:
    session_id, ids = big_session
    channel = grpc.aio.insecure_channel(
        grpc_api.target, options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    )
    queries = type(grpc_api.queries)(channel)
    seen: list[str] = []
    token = ""
    for _ in range(3):
        page = await queries.listBySession(
            io_pb2.ListAgentExecutionsBySessionRequest(session_id=session_id, page_token=token)
        )
        assert len(page.entries) == 1  # each weighs more than a page's bytes: alone on its page
        assert page.total_pages == 2
        seen += [e.metadata.id for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[::-1]
    everything = await queries.list(io_pb2.ListAgentExecutionsRequest(page_size=100))
    assert [e.metadata.id for e in everything.entries] == [ids[1]] and everything.next_page_token
    await channel.close()
    # The runner reads the history a page at a time and remembers both turns.
    client = ServiceClient(grpc_api.target)
    try:
        history = await client.session_history(session_id, exclude_id="")
    finally:
        await client.close()
    assert [m.type for m in history] == ["human", "ai", "human", "ai"]
    assert [history[0].content, history[2].content] == ["first", "second"]
    assert str(history[3].content).startswith("answer to second")


async def test_a_rest_list_page_is_bounded_in_bytes(
    http_api: HttpApi, big_session: tuple[str, list[str]], agent: Agent
) -> None:
    session_id, ids = big_session
    small = [(await http_api.client.post(EXECUTIONS, json={"spec": {"message": f"s{i}", "session_id": session_id}})
              ).json()["metadata"]["id"] for i in range(3)]
    first = await http_api.client.get(EXECUTIONS, params={"page_size": 100})
    assert [e["metadata"]["id"] for e in first.json()["entries"]] == small[::-1]  # the big one would overflow
    listed = list(small[::-1])
    token = first.json()["next_page_token"]
    while token:
        page = await http_api.client.get(EXECUTIONS, params={"page_size": 100, "page_token": token})
        assert len(page.content) < MAX_PAGE_BYTES + MESSAGES * MESSAGE_BYTES + MESSAGE_BYTES  # one big run at most
        listed += [e["metadata"]["id"] for e in page.json()["entries"]]
        token = page.json()["next_page_token"]
    assert listed == small[::-1] + ids[::-1]


class _Unreachable:
    async def session_history(self, session_id: str, *, exclude_id: str) -> list:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.aio.Metadata(), grpc.aio.Metadata(), "too large"
        )


async def test_a_run_whose_history_cannot_be_read_fails_rather_than_forgets() -> None:
    activities = RunnerActivities(Settings(), _Unreachable())  # type: ignore[arg-type]
    request = AgentRunRequest(execution_id="aex_1", session_id="ses_1", thread_id="t", message="hi",
                              model_name="", agent=AgentConfig(name="a", instructions=""))
    with pytest.raises(SessionHistoryUnavailable, match="RESOURCE_EXHAUSTED"):
        await activities._session_history(request)
