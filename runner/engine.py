"""Runs one agent execution on LangGraph and feeds every event to a StatusBuilder.

The agent is a small ReAct graph (model → tools → model …). Besides the tools the agent
names, it always gets `write_todos` (planning) and, when it has sub-agents, a `task`
tool that runs the chosen sub-agent in its own graph and returns its answer. The
sub-agent run inherits the tool's callbacks, so its events reach the same event stream
(nested under the `task` run) and the builder can show its progress.

Phase changes belong to the caller: it marks IN_PROGRESS before, and COMPLETED, FAILED
(errors propagate from here) or CANCELLED (`asyncio.CancelledError` propagates) after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel, Field, create_model

from core.settings import Settings, get_settings
from runner.models import make_chat_model
from runner.status_builder import StatusBuilder
from runner.tools import BUILTIN_TOOLS, TASK_TOOL, WRITE_TODOS_TOOL
from runner.types import AgentConfig, AgentRunRequest, SubAgentConfig

ModelFactory = Callable[[], BaseChatModel]

# Each ReAct step is two graph steps (model, tools); this allows ~50 tool rounds.
_RECURSION_LIMIT = 100


async def run_agent(
    request: AgentRunRequest,
    history: list[BaseMessage],
    builder: StatusBuilder,
    *,
    settings: Settings | None = None,
) -> None:
    """Run the agent on `history` + the request's message, streaming events to `builder`."""
    settings = settings or get_settings()
    model_name = request.model_name or request.agent.model_name

    def model_factory() -> BaseChatModel:
        return make_chat_model(model_name, settings)

    graph = build_agent_graph(
        request.agent.name,
        request.agent.instructions,
        model_factory,
        agent_tools(request.agent, model_factory),
    )
    config: RunnableConfig = {
        "recursion_limit": _RECURSION_LIMIT,
        "configurable": {"thread_id": request.thread_id},
        "metadata": {"execution_id": request.execution_id, "session_id": request.session_id},
        "run_name": request.agent.name,
    }
    inputs = {"messages": [*history, HumanMessage(request.message)]}
    async for event in graph.astream_events(inputs, config, version="v2"):
        builder.handle(event)


def agent_tools(agent: AgentConfig, model_factory: ModelFactory) -> list[BaseTool]:
    """The agent's named built-in tools, plus planning and (with sub-agents) delegation."""
    unknown = [name for name in agent.tools if name not in BUILTIN_TOOLS]
    if unknown:
        raise ValueError(f"unknown tools {unknown}: available are {sorted(BUILTIN_TOOLS)}")
    names = [WRITE_TODOS_TOOL, *(n for n in agent.tools if n != WRITE_TODOS_TOOL)]
    tools = [BUILTIN_TOOLS[name] for name in names]
    if agent.sub_agents:
        tools.append(make_task_tool(agent.sub_agents, model_factory))
    return tools


def make_task_tool(sub_agents: Sequence[SubAgentConfig], model_factory: ModelFactory) -> BaseTool:
    """The `task` tool: run one of `sub_agents` on a description and return its answer.

    The schema lists the sub-agent names as an enum so a model can only pick a real one.
    """
    by_name = {sub.name: sub for sub in sub_agents}
    args_schema: type[BaseModel] = create_model(
        "TaskInput",
        sub_agent=(Literal[tuple(by_name)], Field(description="Which sub-agent to delegate to.")),
        description=(str, Field(description="What the sub-agent should do, self-contained.")),
    )

    async def run_task(sub_agent: str, description: str, config: RunnableConfig) -> str:
        sub = by_name[sub_agent]
        graph = build_agent_graph(sub.name, sub.instructions, model_factory, [])
        result = await graph.ainvoke({"messages": [HumanMessage(description)]}, config)
        return str(result["messages"][-1].text)

    helpers = "\n".join(f"- {sub.name}: {sub.instructions}" for sub in sub_agents)
    return StructuredTool.from_function(
        coroutine=run_task,
        name=TASK_TOOL,
        description=f"Delegate a self-contained task to a sub-agent. Sub-agents:\n{helpers}",
        args_schema=args_schema,
    )


def build_agent_graph(
    name: str, instructions: str, model_factory: ModelFactory, tools: list[BaseTool]
) -> CompiledStateGraph:
    """A ReAct loop: the model answers or calls tools, whose results go back to it."""
    model = model_factory()
    bound = model.bind_tools(tools) if tools else model
    system = [SystemMessage(instructions)] if instructions else []

    async def call_model(
        state: MessagesState, config: RunnableConfig
    ) -> dict[str, list[BaseMessage]]:
        response = await bound.ainvoke([*system, *state["messages"]], config)
        return {"messages": [response]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", call_model)
    graph.add_edge(START, "agent")
    if tools:
        graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
        graph.add_conditional_edges("agent", tools_condition, ["tools", END])
        graph.add_edge("tools", "agent")
    else:
        graph.add_edge("agent", END)
    return graph.compile(name=name)
