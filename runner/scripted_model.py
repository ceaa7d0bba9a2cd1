"""An offline, deterministic chat model that behaves like a small ReAct agent.

It lets tests, benchmarks and `stigmer-service dev` drive the real LangGraph engine with
no provider and no network. Like a real model it only sees the conversation and the
bound tool schemas, and decides the next step from them: within the current turn (the
messages after the last human message) it

1. plans with `write_todos` (three steps),
2. makes the tool calls it is told to make (see below), in order,
3. calls a fact tool (`word_count` over the user's message, else `current_time`),
4. delegates with `task` to the first sub-agent the tool schema offers,
5. writes the plan again with every step completed,
6. streams a final answer that quotes the user's message, earlier human messages of
   the session (memory) and the tool results (an error result is quoted as well).

Each step happens once per turn and only if its tool is bound. With no tools
bound (e.g. as a sub-agent's model) it just streams a short answer. A human message
containing ``[fail]`` makes the call raise, to exercise the FAILED path.

Told tool calls drive any bound tool, such as an MCP server's, deterministically: each
line of the current human message or of the system instructions that contains

    call tool <name> <JSON object of arguments>

(for example ``call tool get_current_time {"timezone": "UTC"}``; the arguments may be
left out for ``{}``) makes the model call tool ``<name>`` with those arguments, once,
if a tool of that name is bound; lines naming tools it does not have are skipped, so
the same message can steer an agent and, through `task`, its sub-agent.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

FAIL_MARKER = "[fail]"
_TOLD_CALL = re.compile(r"call tool ([A-Za-z0-9_.\-]+)(.*)$")

_PLAN = [
    {"content": "Understand the request", "status": "completed"},
    {"content": "Gather facts with tools", "status": "in_progress"},
    {"content": "Write the answer", "status": "pending"},
]
# Before answering, the plan is written again with every step done.
_PLAN_DONE = [{**step, "status": "completed"} for step in _PLAN]
_FILLER = ["This", "answer", "comes", "from", "the", "offline", "scripted", "model", "and", "carries", "no", "real", "insight"]
_QUOTE_CHARS = 80
_MEMORY_DEPTH = 3


@dataclass
class _Turn:
    """What the model can see of the current turn."""

    message: str
    earlier: list[str]
    results: dict[str, str] = field(default_factory=dict)
    position: int = 0
    plan_writes: int = 0  # how many times write_todos ran this turn
    told_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls_made: list[str] = field(default_factory=list)  # tool names called this turn


class ScriptedChatModel(BaseChatModel):
    """Deterministic stand-in for an LLM; see the module docstring for the script."""

    token_delay_ms: int = Field(default=0, ge=0)
    """Pause between streamed answer tokens (simulates generation speed)."""
    step_delay_ms: int = Field(default=0, ge=0)
    """Pause before each model turn (simulates time to first token)."""
    answer_tokens: int = Field(default=20, ge=1)
    """Chunks the final answer streams in: exactly this many when tools are bound (the
    answer is padded with filler words), at most this many for the short tool-less answer."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI-style schemas, the same shape real providers receive."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._respond(messages, kwargs.get("tools") or [])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await _pause(self.step_delay_ms)
        return self._respond(messages, kwargs.get("tools") or [])

    def _respond(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        """The whole next step as one message (non-streaming calls)."""
        tool_call, tokens = self._decide(messages, tools)
        message = AIMessage(content="".join(tokens), tool_calls=[tool_call] if tool_call else [])
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        await _pause(self.step_delay_ms)
        tool_call, tokens = self._decide(messages, kwargs.get("tools") or [])
        if tool_call is not None:
            chunk = AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": tool_call["name"],
                        "args": json.dumps(tool_call["args"]),
                        "id": tool_call["id"],
                        "index": 0,
                    }
                ],
                chunk_position="last",
            )
            yield ChatGenerationChunk(message=chunk)
            return
        for i, token in enumerate(tokens):
            if i:
                await _pause(self.token_delay_ms)
            last = i == len(tokens) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=token, chunk_position="last" if last else None)
            )

    def _decide(
        self, messages: list[BaseMessage], tools: list[dict[str, Any]]
    ) -> tuple[ToolCall | None, list[str]]:
        """The next step: a tool call, or the answer as a list of tokens."""
        turn = _read_turn(messages)
        if FAIL_MARKER in turn.message:
            raise RuntimeError("scripted failure requested")
        schemas = {t["function"]["name"]: t["function"] for t in tools}
        call = _next_tool_call(turn, schemas)
        if call is not None:
            name, args = call
            return ToolCall(name=name, args=args, id=f"call_{turn.position}_{name}"), []
        words = _answer_text(turn).split()
        if schemas:
            words += [_FILLER[i % len(_FILLER)] for i in range(self.answer_tokens - len(words))]
        return None, _group(words, min(len(words), self.answer_tokens))


def _read_turn(messages: list[BaseMessage]) -> _Turn:
    """Split the conversation at the last human message and collect this turn's results."""
    human = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not human:
        return _Turn(message="", earlier=[], position=len(messages))
    start = human[-1]
    turn = _Turn(
        message=messages[start].text,
        earlier=[messages[i].text for i in human[:-1]],
        position=len(messages),
    )
    instructions = [m.text for m in messages if isinstance(m, SystemMessage)]
    turn.told_calls = _told_calls([*instructions, turn.message])
    calls = [call for m in messages[start:] if isinstance(m, AIMessage) for call in m.tool_calls]
    turn.calls_made = [call["name"] for call in calls]
    names = {call["id"]: call["name"] for call in calls}
    for m in messages[start:]:
        if isinstance(m, ToolMessage):
            name = m.name or names.get(m.tool_call_id, "")
            turn.results[name] = m.text
            turn.plan_writes += name == "write_todos"
    return turn


def _told_calls(texts: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The `call tool <name> <args>` lines of `texts`, in order."""
    calls = []
    for text in texts:
        for line in text.splitlines():
            if (match := _TOLD_CALL.search(line)) is None:
                continue
            name, raw = match.group(1), match.group(2).strip() or "{}"
            try:
                args = json.loads(raw)
            except json.JSONDecodeError:
                args = None
            if not isinstance(args, dict):
                raise ValueError(f"call tool {name}: the arguments {raw!r} are not a JSON object")
            calls.append((name, args))
    return calls


def _next_told_call(
    turn: _Turn, schemas: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, Any]] | None:
    """The first told call of a bound tool not made yet (the n-th told call of a tool is
    made once that tool has been called n-1 times this turn)."""
    told: dict[str, int] = {}
    for name, args in turn.told_calls:
        if name not in schemas:
            continue
        if turn.calls_made.count(name) <= told.get(name, 0):
            return name, args
        told[name] = told.get(name, 0) + 1
    return None


def _next_tool_call(
    turn: _Turn, schemas: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, Any]] | None:
    """The first plan step whose tool is bound and has not run in this turn."""
    if "write_todos" in schemas and "write_todos" not in turn.results:
        return "write_todos", {"todos": _PLAN}
    if (told := _next_told_call(turn, schemas)) is not None:
        return told
    fact_args = {"word_count": {"text": turn.message}, "current_time": {}}
    fact_tools = [name for name in fact_args if name in schemas]
    if fact_tools and not any(name in turn.results for name in fact_tools):
        return fact_tools[0], fact_args[fact_tools[0]]
    if "task" in schemas and "task" not in turn.results:
        sub_agent = _first_sub_agent(schemas["task"])
        if sub_agent:
            return "task", {"sub_agent": sub_agent, "description": f"Look into: {turn.message}"}
    if turn.plan_writes == 1:
        return "write_todos", {"todos": _PLAN_DONE}
    return None


def _first_sub_agent(task_schema: dict[str, Any]) -> str | None:
    """The first sub-agent name the `task` tool's schema allows (enum or const)."""
    prop = task_schema.get("parameters", {}).get("properties", {}).get("sub_agent", {})
    if prop.get("enum"):
        return str(prop["enum"][0])
    return str(prop["const"]) if "const" in prop else None


def _answer_text(turn: _Turn) -> str:
    """The answer's substance: the request, what came before, what the tools said."""
    parts = [f'You asked: "{_quote(turn.message)}".']
    if turn.earlier:
        earlier = "; ".join(f'"{_quote(m)}"' for m in turn.earlier[-_MEMORY_DEPTH:])
        parts.append(f"Earlier you asked: {earlier}.")
    parts += [
        f"{name} said: {_quote(result).rstrip('.')}."
        for name, result in turn.results.items()
        if name != "write_todos"
    ]
    return " ".join(parts)


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _QUOTE_CHARS else flat[: _QUOTE_CHARS - 1] + "…"


def _group(words: list[str], count: int) -> list[str]:
    """Split words into `count` tokens whose concatenation is the words joined by spaces."""
    if count <= 0:
        return []
    tokens: list[str] = []
    for i in range(count):
        chunk = " ".join(words[len(words) * i // count : len(words) * (i + 1) // count])
        tokens.append(chunk if i == 0 else " " + chunk)
    return tokens


async def _pause(ms: int) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)
