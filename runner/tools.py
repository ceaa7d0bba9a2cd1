"""Built-in tools an agent can be given by name, plus the planning tool every agent gets.

The names here are part of the status contract: the StatusBuilder recognises
`write_todos` (todos) and `task` (sub-agent delegation, built by the engine) by name.

The tools are coroutines although none of them waits: LangChain runs a sync tool in a
thread, where each of its callbacks to the run's event stream (an async handler) starts
an event loop of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from langchain_core.tools import BaseTool, tool
from typing_extensions import TypedDict

WRITE_TODOS_TOOL = "write_todos"
TASK_TOOL = "task"

TodoState = Literal["pending", "in_progress", "completed", "cancelled"]


class Todo(TypedDict):
    """One step of the agent's plan."""

    content: str
    status: TodoState


@tool(WRITE_TODOS_TOOL)
async def write_todos(todos: list[Todo]) -> str:
    """Write the whole plan: the full list of steps with their status.

    Call it again with the full list whenever a step changes status.
    """
    lines = [f"[{todo['status']}] {todo['content']}" for todo in todos]
    return "Plan updated:\n" + "\n".join(lines)


@tool
async def word_count(text: str) -> str:
    """Count the words (whitespace-separated) in a text."""
    return f"{len(text.split())} words"


@tool
async def current_time() -> str:
    """The current date and time in UTC, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


BUILTIN_TOOLS: dict[str, BaseTool] = {t.name: t for t in (write_todos, word_count, current_time)}
