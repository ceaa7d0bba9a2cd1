"""Whole statuses as a runner sends them during one run (a plan, tool calls changing
status, a sub-agent, a streamed answer with text beyond the Basic Multilingual Plane,
retracted messages), and the patch events a server streams for them: test material for
the clients' patch appliers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from domain.status_changes import apply_changes, diff_status

Status = dict[str, Any]

WORDS = ("Lisbon ", "tram ", "naïve ", "café ", "🚋 ", "𝔘𝔫𝔦 ", "日本 ", "\n", "👩‍💻 ", "a", "é")
TOOL_STATES = ("TOOL_CALL_PENDING", "TOOL_CALL_RUNNING", "TOOL_CALL_COMPLETED", "TOOL_CALL_FAILED")
TODO_STATES = ("TODO_PENDING", "TODO_IN_PROGRESS", "TODO_COMPLETED", "TODO_CANCELLED")


def random_run(rng: random.Random, steps: int = 40) -> list[Status]:
    """`steps` whole statuses, each a random edit of the one before."""
    status: Status = {
        "phase": "EXECUTION_IN_PROGRESS",
        "started_at": "2026-01-01T00:00:00Z",
        "messages": [{"type": "MESSAGE_HUMAN", "content": "plan a trip"}],
    }
    run = [status]
    for step in range(steps):
        status = _edit(rng, status, step)
        run.append(status)
    final = dict(status, phase=rng.choice(["EXECUTION_COMPLETED", "EXECUTION_FAILED"]),
                 completed_at="2026-01-01T00:05:00Z")
    if final["phase"] == "EXECUTION_FAILED":
        final["error"] = "the model gave up 🙃"
    return [*run, final]


def _edit(rng: random.Random, status: Status, step: int) -> Status:
    status = dict(status)
    messages = list(status.get("messages", []))
    tools = list(status.get("tool_calls", []))
    todos = dict(status.get("todos", {}))
    kind = rng.choice(["stream"] * 5 + ["message", "tool", "tool_status", "todo", "todo_remove",
                                         "sub_agent", "truncate", "rewrite"])
    if kind == "stream" and messages and messages[-1]["type"] == "MESSAGE_AI":
        last = dict(messages[-1])
        last["content"] = last.get("content", "") + "".join(rng.choices(WORDS, k=rng.randint(1, 4)))
        messages[-1] = last
    elif kind in ("stream", "message"):
        messages.append({"type": "MESSAGE_AI", "content": rng.choice(WORDS), "timestamp": f"t{step}"})
    elif kind == "tool":
        tools.append({"id": f"call_{step}", "name": "get_time", "args": {"tz": "Europe/Lisbon", "n": step},
                      "status": "TOOL_CALL_RUNNING", "started_at": f"t{step}"})
    elif kind == "tool_status" and tools:
        i = rng.randrange(len(tools))
        tools[i] = dict(tools[i], status=rng.choice(TOOL_STATES), result=f"{step}:00 ⏰")
    elif kind == "todo":
        key = f"todo-{rng.randint(0, 5)}"
        todos[key] = {"id": key, "content": f"step {step}", "status": rng.choice(TODO_STATES)}
    elif kind == "todo_remove" and len(todos) > 1:
        del todos[rng.choice(sorted(todos))]
    elif kind == "sub_agent":
        status["sub_agent_executions"] = [
            *status.get("sub_agent_executions", []),
            {"id": f"sub_{step}", "name": "researcher", "input": "find trams", "status": "SUB_AGENT_IN_PROGRESS"},
        ]
    elif kind == "truncate" and len(messages) > 2:
        messages = messages[: rng.randint(1, len(messages) - 1)]
    elif kind == "rewrite" and messages:
        i = rng.randrange(len(messages))
        messages[i] = dict(messages[i], content=messages[i].get("content", "")[:-1] + "✂")
    for field, value in (("messages", messages), ("tool_calls", tools), ("todos", todos)):
        if value:
            status[field] = value
    return status


@dataclass(frozen=True)
class PatchEvent:
    version: int
    base_version: int
    changes: list[dict[str, Any]]
    status: Status  # the status the patch produces

    def data(self) -> dict[str, Any]:
        return {"version": self.version, "base_version": self.base_version, "changes": self.changes}


def patch_events(run: list[Status], first_version: int = 1) -> list[PatchEvent]:
    """The patches that follow `run[0]` (held at `first_version`) through the run, one
    version each, as a server stores and streams them; empty diffs send nothing."""
    events, held, version = [], run[0], first_version
    for status in run[1:]:
        changes = diff_status(held, status)
        if not changes:
            continue
        held = apply_changes(held, changes)
        events.append(PatchEvent(version + 1, version, changes, held))
        version += 1
    return events
