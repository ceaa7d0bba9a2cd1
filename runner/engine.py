"""Runs one agent execution on LangGraph and feeds every event to a StatusBuilder.

The agent is a small ReAct graph (model → tools → model …). Besides the tools the agent
names, it always gets `write_todos` (planning) and, when it has sub-agents, a `task`
tool that runs the chosen sub-agent in its own graph and returns its answer. The
sub-agent run inherits the tool's callbacks, so its events reach the same event stream
(nested under the `task` run) and the builder can show its progress.

The agent's MCP servers are opened for the whole run (runner/mcp_tools.py): the agent
gets their enabled tools, each sub-agent those of the servers named for it, and every
session closes when the run ends, fails or is cancelled.

Phase changes belong to the caller: it marks IN_PROGRESS before, and COMPLETED, FAILED
(errors propagate from here) or CANCELLED (`asyncio.CancelledError` propagates) after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel, Field, create_model

from core.mcp_policy import McpPolicy
from core.settings import Settings, get_settings
from runner.mcp_tools import McpToolset, open_mcp_tools
from runner.models import make_chat_model
from runner.sandbox import StdioSandbox
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

    async with open_mcp_tools(
        request.agent.mcp_servers,
        request.runtime_env,
        default_timeout_seconds=settings.mcp_tool_timeout_seconds,
        policy=McpPolicy.from_settings(settings),
        sandbox=StdioSandbox.from_settings(settings),
    ) as mcp:
        builder.describe_tools(mcp.components())
        graph = build_agent_graph(
            request.agent.name,
            request.agent.instructions,
            model_factory,
            agent_tools(request.agent, model_factory, mcp),
        )
        config: RunnableConfig = {
            "recursion_limit": _RECURSION_LIMIT,
            "configurable": {"thread_id": request.thread_id},
            "metadata": {"execution_id": request.execution_id, "session_id": request.session_id},
            "run_name": request.agent.name,
        }
        # add_messages takes any BaseMessage; MessagesState's annotation lists only the
        # concrete message classes.
        messages = [*history, HumanMessage(request.message)]
        inputs: MessagesState = {"messages": messages}  # type: ignore[typeddict-item]
        async for event in graph.astream_events(inputs, config, version="v2"):
            builder.handle(event)


def agent_tools(
    agent: AgentConfig, model_factory: ModelFactory, mcp: McpToolset | None = None
) -> list[BaseTool]:
    """The agent's named built-in tools, planning, its MCP tools and (with sub-agents)
    delegation."""
    unknown = [name for name in agent.tools if name not in BUILTIN_TOOLS]
    if unknown:
        raise ValueError(f"unknown tools {unknown}: available are {sorted(BUILTIN_TOOLS)}")
    mcp = mcp or McpToolset()
    names = [WRITE_TODOS_TOOL, *(n for n in agent.tools if n != WRITE_TODOS_TOOL)]
    tools = [BUILTIN_TOOLS[name] for name in names]
    reserved = {*BUILTIN_TOOLS, TASK_TOOL}
    clashes = sorted(tool.name for tool in mcp.for_agent() if tool.name in reserved)
    if clashes:
        raise ValueError(f"MCP tools {clashes} clash with the runner's own tools; disable them")
    tools += mcp.for_agent()
    if agent.sub_agents:
        sub_tools = {sub.name: mcp.for_sub_agent(sub) for sub in agent.sub_agents}
        tools.append(make_task_tool(agent.sub_agents, model_factory, sub_tools))
    return tools


def make_task_tool(
    sub_agents: Sequence[SubAgentConfig],
    model_factory: ModelFactory,
    sub_tools: dict[str, list[BaseTool]] | None = None,
) -> BaseTool:
    """The `task` tool: run one of `sub_agents` on a description and return its answer.

    The schema lists the sub-agent names as an enum so a model can only pick a real one.
    Each sub-agent runs with its own tools from `sub_tools` (its MCP selection).
    """
    by_name = {sub.name: sub for sub in sub_agents}
    sub_tools = sub_tools or {}
    # Built at run time from the names: pydantic checks it, mypy cannot.
    sub_agent_name: Any = Literal[tuple(by_name)]
    args_schema: type[BaseModel] = create_model(
        "TaskInput",
        sub_agent=(sub_agent_name, Field(description="Which sub-agent to delegate to.")),
        description=(str, Field(description="What the sub-agent should do, self-contained.")),
    )

    async def run_task(sub_agent: str, description: str, config: RunnableConfig) -> str:
        sub = by_name[sub_agent]
        graph = build_agent_graph(sub.name, sub.instructions, model_factory, sub_tools.get(sub.name, []))
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
) -> CompiledStateGraph[MessagesState, None, MessagesState, MessagesState]:
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
