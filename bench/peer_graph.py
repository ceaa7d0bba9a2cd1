"""The benchmark agent as a graph for LangGraph's own server (`langgraph dev`).

The same agent the service's runner builds (runner/engine.py) for the benchmark's agent:
a ReAct loop over the timed scripted model with `write_todos`, `word_count` and a `task`
tool that runs the `researcher` sub-agent in a graph of its own. So both systems run the
same plan → tool → sub-agent → plan → answer script, with the same token counts and
delays. Kept free of the service's settings and wiring, because the peer's server runs
in an environment of its own.

Delays come from the environment (BENCH_TOKEN_DELAY_MS, BENCH_STEP_DELAY_MS); the answer's
token count from the run's `configurable.answer_tokens`.
"""

from __future__ import annotations

import os
from typing import Literal

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import MessagesState
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from bench.timed_model import TimedScriptedChatModel
from runner.react import react_loop
from runner.tools import word_count, write_todos

SUB_AGENT = "researcher"
DEFAULT_ANSWER_TOKENS = 200


def _model(config: RunnableConfig) -> TimedScriptedChatModel:
    tokens = (config.get("configurable") or {}).get("answer_tokens", DEFAULT_ANSWER_TOKENS)
    return TimedScriptedChatModel(
        answer_tokens=int(tokens),
        token_delay_ms=int(os.environ.get("BENCH_TOKEN_DELAY_MS", "5")),
        step_delay_ms=int(os.environ.get("BENCH_STEP_DELAY_MS", "100")),
    )


class TaskInput(BaseModel):
    sub_agent: Literal["researcher"] = Field(description="Which sub-agent to delegate to.")
    description: str = Field(description="What the sub-agent should do, self-contained.")


async def _run_task(sub_agent: str, description: str, config: RunnableConfig) -> str:
    result = await react_graph(sub_agent, []).ainvoke({"messages": [HumanMessage(description)]}, config)
    return str(result["messages"][-1].text)


task = StructuredTool.from_function(
    coroutine=_run_task, name="task", args_schema=TaskInput,
    description=f"Delegate a self-contained task to a sub-agent. Sub-agents:\n- {SUB_AGENT}: look up",
)


def react_graph(name: str, tools: list[BaseTool]) -> CompiledStateGraph:
    """The engine's ReAct loop: the model answers or calls tools, whose results go back to it."""

    async def call_model(state: MessagesState, config: RunnableConfig) -> dict[str, list[BaseMessage]]:
        model = _model(config)
        bound = model.bind_tools(tools) if tools else model
        return {"messages": [await bound.ainvoke(state["messages"], config)]}

    return react_loop(name, call_model, tools)


graph = react_graph("bench", [write_todos, word_count, task])
