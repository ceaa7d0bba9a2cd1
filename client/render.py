"""What the terminal client shows, with no I/O: an execution body in, a rich renderable
out. Also the tail-only view the live display uses and the plain rows `list` prints when
its output is not a terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from client.api import TERMINAL_PHASES
from client.live import ExecutionBody
from domain import timestamps

PHASE_STYLES = {
    "EXECUTION_PENDING": "bold yellow",
    "EXECUTION_IN_PROGRESS": "bold cyan",
    "EXECUTION_COMPLETED": "bold green",
    "EXECUTION_FAILED": "bold red",
    "EXECUTION_CANCELLED": "bold magenta",
}
# Tool calls and sub-agents share a lifecycle, so they share icons.
STEP_ICONS = {
    "PENDING": ("○", "dim"),
    "RUNNING": ("◌", "cyan"),
    "IN_PROGRESS": ("◌", "cyan"),
    "COMPLETED": ("✓", "green"),
    "FAILED": ("✗", "red"),
}
TODO_ICONS = {
    "TODO_PENDING": ("☐", "dim"),
    "TODO_IN_PROGRESS": ("◐", "cyan"),
    "TODO_COMPLETED": ("☑", "green"),
    "TODO_CANCELLED": ("☒", "dim strike"),
}


def short_name(enum_value: str, prefix: str) -> str:
    """`EXECUTION_IN_PROGRESS` → `IN_PROGRESS` (and `` → `UNSPECIFIED`)."""
    return enum_value.removeprefix(prefix) or "UNSPECIFIED"


def shorten(value: Any, width: int = 100) -> str:
    """One line of at most `width` characters, for args and results."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _natural_key(text: str) -> list[Any]:
    """`todo-2` before `todo-10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _section(title: str, lines: list[Text]) -> list[RenderableType]:
    return [Text(title, style="bold"), *lines] if lines else []


def _step_line(status: str, prefix: str, label: str, detail: str, error: str = "") -> Text:
    icon, style = STEP_ICONS.get(short_name(status, prefix), ("?", "dim"))
    line = Text.assemble("  ", (icon, style), " ", (label, "bold"), no_wrap=True, overflow="ellipsis")
    if error:
        line.append(f" ✗ {shorten(error)}", style="red")
    elif detail:
        line.append(f" → {shorten(detail)}", style="dim")
    return line


def render_execution(state: ExecutionBody) -> RenderableType:
    """What a person watching the execution should see, top to bottom: who and where, the
    phase, the plan, the tool calls, the sub-agents, the question and the streamed answer,
    and any error."""
    return Group(*execution_parts(state))


def execution_parts(state: ExecutionBody) -> list[RenderableType]:
    """The pieces of `render_execution`, the header (id, session, phase) first."""
    metadata, spec, status = state.get("metadata", {}), state.get("spec", {}), state.get("status", {})
    phase = status.get("phase", "")
    header = Text.assemble(
        (metadata.get("id", "?"), "bold"),
        (f"  session {spec.get('session_id', '?')}", "dim"),
        "  ",
        (f" {short_name(phase, 'EXECUTION_')} ", PHASE_STYLES.get(phase, "bold") + " reverse"),
    )
    parts: list[RenderableType] = [header]

    todos = sorted(
        status.get("todos", {}).values(),
        key=lambda t: (timestamps.sort_key(t.get("created_at", "")), _natural_key(t.get("id", ""))),
    )
    todo_lines = []
    for todo in todos:
        icon, style = TODO_ICONS.get(todo.get("status", ""), ("?", "dim"))
        todo_lines.append(Text.assemble("  ", (icon, style), " ", (todo.get("content", ""), style)))
    parts += _section("Plan", todo_lines)

    parts += _section("Tools", [
        _step_line(call.get("status", ""), "TOOL_CALL_",
                   f"{call.get('name', '?')}({shorten(call.get('args', {}), 60)})",
                   call.get("result", ""), call.get("error", ""))
        for call in status.get("tool_calls", [])
    ])
    parts += _section("Sub-agents", [
        _step_line(sub.get("status", ""), "SUB_AGENT_", sub.get("name", "?"),
                   sub.get("output", "") or sub.get("input", ""), sub.get("error", ""))
        for sub in status.get("sub_agent_executions", [])
    ])

    parts.append(Text.assemble(("You: ", "bold blue"), spec.get("message", "")))
    answer = "\n\n".join(
        m["content"] for m in status.get("messages", []) if m.get("type") == "MESSAGE_AI" and m.get("content")
    )
    if answer:
        parts.append(Text.assemble(("Agent: ", "bold green"), answer))
    elif phase not in TERMINAL_PHASES:
        parts.append(Text("Agent: …", style="dim"))
    if status.get("error"):
        parts.append(Text.assemble(("Error: ", "bold red"), (status["error"], "red")))
    return parts


class LiveTail:
    """A view cut to what fits the screen, for the live display: the whole `head`, then
    the newest lines of `body`.

    A live display can only redraw what is on screen: taller output would hide the newest
    text and leave stray copies of its top in the scrollback. So while live, show the
    head (id and phase), a marker for what is hidden, and the bottom that fits; the whole
    final state is printed once the live view has gone.
    """

    def __init__(self, head: RenderableType, body: RenderableType) -> None:
        self.head = head
        self.body = body

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update(height=None)
        head = console.render_lines(self.head, unbounded, pad=False)
        body = console.render_lines(self.body, unbounded, pad=False)
        # One line short of the screen: when the live display stops it ends with a line
        # break, which must not scroll the top of the view into the scrollback.
        height = (options.height or options.max_height or console.height) - 1
        room = height - len(head)
        if len(body) > room:
            keep = max(0, room - 1)
            marker = Text(f"  ⋮ {len(body) - keep} more lines above", style="dim", no_wrap=True)
            body = console.render_lines(marker, unbounded, pad=False)[:1] + (body[-keep:] if keep else [])
        for index, line in enumerate([*head, *body][:max(1, height)]):
            if index:
                yield Segment.line()
            yield from line


def live_view(state: ExecutionBody) -> LiveTail:
    head, *rest = execution_parts(state)
    return LiveTail(head, Group(*rest))


# -- lists ----------------------------------------------------------------------------

LIST_COLUMNS = ("ID", "PHASE", "SESSION", "STARTED", "MESSAGE")


def execution_rows(page: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """One (id, phase, session, started, message) row per execution, nothing cut."""
    rows = []
    for execution in page.get("entries", []):
        status, spec = execution.get("status", {}), execution.get("spec", {})
        rows.append((
            execution.get("metadata", {}).get("id", ""),
            short_name(status.get("phase", ""), "EXECUTION_"),
            spec.get("session_id", ""),
            status.get("started_at", "")[:19].replace("T", " "),
            " ".join(spec.get("message", "").split()),
        ))
    return rows


def list_footer(page: dict[str, Any]) -> str:
    footer = f"{len(page.get('entries', []))} of {page.get('total', '?')}"
    if page.get("next_page_token"):
        footer += f"; next page: --page-token {page['next_page_token']}"
    return footer


def _fixed_widths(rows: Sequence[tuple[str, ...]]) -> tuple[list[int], int]:
    """Widths of the columns never cut, and their total with the gaps between them (no
    box, no edge padding: one space either side of each boundary)."""
    fixed = [max([len(LIST_COLUMNS[i])] + [len(row[i]) for row in rows]) for i in range(4)]
    return fixed, sum(fixed) + 2 * 3


def list_width(page: dict[str, Any], width: int) -> int:
    """The width to print the list at on a `width`-column terminal: wider when even the
    ids, phases, sessions and times do not fit (the terminal wraps; ids stay whole)."""
    return max(width, _fixed_widths(execution_rows(page))[1])


def render_execution_list(page: dict[str, Any], width: int = 120) -> RenderableType:
    """The list as a table for a terminal `width` columns wide. Ids, phases, sessions and
    times are never cut; the message gets what is left, and is left out when that is too
    little to read."""
    rows = execution_rows(page)
    fixed, fixed_width = _fixed_widths(rows)
    room = width - fixed_width - 2
    with_message = room >= 10
    table = Table(box=None, pad_edge=False)
    for index, column in enumerate(LIST_COLUMNS[:4]):
        table.add_column(column, no_wrap=True, min_width=fixed[index])
    if with_message:
        table.add_column("MESSAGE", no_wrap=True, overflow="ellipsis", max_width=room)
    for row in rows:
        cells: list[RenderableType] = [
            row[0], Text(row[1], style=PHASE_STYLES.get(f"EXECUTION_{row[1]}", "")), row[2], row[3],
        ]
        if with_message:
            cells.append(Text(row[4], no_wrap=True, overflow="ellipsis"))
        table.add_row(*cells)
    return Group(table, Text(list_footer(page), style="dim"))


def plain_rows(page: dict[str, Any]) -> Iterable[str]:
    """Tab-separated rows for pipes and scripts: id, phase, session, started, message."""
    for row in execution_rows(page):
        yield "\t".join(cell.replace("\t", " ") for cell in row)
