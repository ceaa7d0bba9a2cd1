"""The ReAct loop every agent runs on: the model answers or calls tools, whose results go
back to it. Only LangGraph here, so the benchmark's peer (bench/peer_graph.py) runs the
very same loop in an environment of its own."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, cast

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition


class CallModel(Protocol):
    """The agent node: the model's answer (or tool calls) to the messages so far."""

    def __call__(self, state: MessagesState, config: RunnableConfig) -> Awaitable[dict[str, list[BaseMessage]]]: ...


async def route_to_tools(state: MessagesState) -> str:
    """LangGraph's `tools_condition` as a coroutine: a sync routing function runs in the
    loop's executor, where each of its callbacks to the run's event stream starts an
    event loop of its own."""
    return tools_condition(cast(dict[str, Any], state))


def react_loop(
    name: str, call_model: CallModel, tools: list[BaseTool]
) -> CompiledStateGraph[MessagesState, None, MessagesState, MessagesState]:
    """`call_model` as the agent node, with a tool node when there are tools."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", call_model)
    graph.add_edge(START, "agent")
    if tools:
        graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
        graph.add_conditional_edges("agent", route_to_tools, ["tools", END])
        graph.add_edge("tools", "agent")
    else:
        graph.add_edge("agent", END)
    return graph.compile(name=name)
