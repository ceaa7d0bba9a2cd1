"""`stigmer-service run --workflow <name|id> "<trigger message>"`: run a workflow and follow
its tasks live, over the REST API (`/v1/workflow-executions`)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from client.api import TERMINAL_PHASES, ApiClient, ClientError, StreamDropped
from client.render import PHASE_STYLES, STEP_ICONS, short_name, shorten
from client.sse import SSEParser

WorkflowExecutionBody = dict[str, Any]


def execution_path(execution_id: str, action: str = "") -> str:
    path = f"/v1/workflow-executions/{quote(execution_id, safe='')}"
    return f"{path}/{action}" if action else path


def create(client: ApiClient, workflow: str, message: str) -> WorkflowExecutionBody:
    """An execution of the workflow (`wfl_…` or its name); the message is its trigger."""
    spec = {"workflow_id": workflow, "trigger_message": message}
    created: WorkflowExecutionBody = client.request("POST", "/v1/workflow-executions", json={"spec": spec})
    return created


def follow(client: ApiClient, execution_id: str, *, reconnect_window: float = 60.0) -> Iterator[WorkflowExecutionBody]:
    """Each new state until the final one; a dropped stream is resumed with Last-Event-ID."""
    parser = SSEParser()
    held: WorkflowExecutionBody | None = None
    failing_since: float | None = None
    while True:
        try:
            events = client.stream_events(execution_path(execution_id, "subscribe"), parser)
            with contextlib.closing(events):
                for event in events:
                    failing_since = None
                    if event.event == "state":
                        held = json.loads(event.data)
                        yield held
                    elif event.event == "end":
                        if held is None or held.get("status", {}).get("phase") not in TERMINAL_PHASES:
                            yield client.request("GET", execution_path(execution_id))
                        return
            raise StreamDropped("stream closed before its end event")
        except (StreamDropped, httpx.TransportError) as exc:
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since > reconnect_window:
                raise ClientError(f"lost the event stream of {execution_id} ({exc})") from None
            time.sleep(0.5)


def render(state: WorkflowExecutionBody) -> RenderableType:
    """The execution, its phase, each task with its status and output or error."""
    status = state.get("status", {})
    phase = status.get("phase", "")
    spec = state.get("spec", {})
    lines: list[RenderableType] = [
        Text.assemble(("workflow execution ", "dim"), (state.get("metadata", {}).get("id", ""), "bold"),
                      ("  workflow ", "dim"), spec.get("workflow_id", ""), ("  instance ", "dim"),
                      spec.get("workflow_instance_id", "")),
        Text(short_name(phase, "EXECUTION_"), style=PHASE_STYLES.get(phase, "bold")),
    ]
    for task in status.get("tasks", []):
        icon, style = STEP_ICONS.get(short_name(task.get("status", ""), "WORKFLOW_TASK_"), ("○", "dim"))
        line = Text.assemble("  ", (icon, style), " ", (task.get("task_name") or task.get("task_id", ""), "bold"))
        if task.get("error"):
            line.append(f" ✗ {shorten(task['error'])}", style="red")
        elif task.get("output"):
            line.append(f" → {shorten(task['output'])}", style="dim")
        lines.append(line)
    if status.get("error"):
        lines.append(Text(f"error: {status['error']}", style="red"))
    return Group(*lines)


def run_and_follow(client: ApiClient, workflow: str, message: str, console: Console, *, follow_it: bool = True) -> str:
    """Run the workflow; with `follow_it`, watch until it ends. Returns the final phase
    ("" when not followed)."""
    execution = create(client, workflow, message)
    execution_id = execution["metadata"]["id"]
    if not follow_it:
        console.print(execution_id, highlight=False)
        return ""
    state = execution
    with Live(render(state), console=console, refresh_per_second=8, transient=True) as live:
        for state in follow(client, execution_id):
            live.update(render(state))
    console.print(render(state))
    phase: str = state.get("status", {}).get("phase", "")
    return phase
