"""What the terminal client prints: whole ids in `list` (at any width, and as plain rows
in a pipe), a live view that keeps the newest text on a small screen, and one clean
final render after it."""

from __future__ import annotations

import argparse
import io
import json
import re

import httpx
from rich.console import Console

from client.api import ApiClient
from client.commands import cmd_list, watch
from client.render import LiveTail, live_view, render_execution_list

LONG_ID = "aex_00mx2v81ptn8xppty9iq4k7wz3"
LONG_SESSION = "ses_00mx2v81ptn8xppty9ir2b5nd8"


def execution(index: int, phase: str = "EXECUTION_COMPLETED", answer: str = "") -> dict:
    status: dict = {"phase": phase, "started_at": "2026-11-30T08:00:00Z"}
    if answer:
        status["messages"] = [{"type": "MESSAGE_AI", "content": answer}]
    return {
        "metadata": {"id": f"{LONG_ID}{index}"},
        "spec": {"session_id": f"{LONG_SESSION}{index}", "message": "a rather long message " * 6},
        "status": status,
        "version": index,
    }


PAGE = {"entries": [execution(1), execution(2, "EXECUTION_IN_PROGRESS")], "total": 2, "next_page_token": ""}


def printed(width: int, height: int = 25, *, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, height=height, force_terminal=terminal, color_system=None,
                   legacy_windows=False), out


def run_list(console: Console, page: dict) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page)

    args = argparse.Namespace(session=None, phase=None, page_size=20, page_token=None, json=False)
    with ApiClient("http://test", transport=httpx.MockTransport(handler)) as client:
        assert cmd_list(args, client, console) == 0


def test_list_on_an_80_column_terminal_keeps_ids_and_phases_whole() -> None:
    console, out = printed(80, terminal=True)
    run_list(console, PAGE)
    text = out.getvalue()
    for entry in PAGE["entries"]:
        assert entry["metadata"]["id"] in text
        assert entry["spec"]["session_id"] in text
    assert "COMPLETED" in text and "IN_PROGRESS" in text
    assert "…" not in re.sub(r"a rather long message.*", "", text)  # only the message is shortened


def test_list_on_a_narrow_terminal_drops_the_message_not_the_ids() -> None:
    console, out = printed(50, terminal=True)
    run_list(console, PAGE)
    printed_text = out.getvalue()
    text = printed_text.replace("\n", "")  # the terminal wraps the long lines; ids stay whole
    assert f"{LONG_ID}1" in text and f"{LONG_SESSION}2" in text
    assert "a rather long message" not in printed_text


def test_list_in_a_pipe_prints_whole_tab_separated_rows(capsys) -> None:
    console, out = printed(80, terminal=False)
    run_list(console, PAGE)
    rows = [line.split("\t") for line in out.getvalue().splitlines()]
    assert [row[:3] for row in rows] == [
        [f"{LONG_ID}1", "COMPLETED", f"{LONG_SESSION}1"],
        [f"{LONG_ID}2", "IN_PROGRESS", f"{LONG_SESSION}2"],
    ]
    assert rows[0][3] == "2026-11-30 08:00:00"
    assert rows[0][4] == ("a rather long message " * 6).strip()  # the message is whole too
    assert "2 of 2" in capsys.readouterr().err  # the footer stays off stdout


def test_render_list_keeps_ids_whole_at_80_columns() -> None:
    console, out = printed(80, terminal=False)
    console.print(render_execution_list(PAGE, 80))
    assert f"{LONG_ID}1" in out.getvalue() and f"{LONG_ID}2" in out.getvalue()


# -- live view ------------------------------------------------------------------------

ANSWER = "\n".join(f"line {i} of the answer" for i in range(1, 31))


def test_live_view_on_a_10_line_screen_shows_the_header_and_the_newest_text() -> None:
    console, out = printed(60, height=10, terminal=False)
    console.print(live_view(execution(1, "EXECUTION_IN_PROGRESS", ANSWER)))
    lines = out.getvalue().splitlines()
    assert len(lines) <= 9  # a line to spare for the break that ends the live display
    header = "".join(lines[:2])  # the id, session and phase wrap at 60 columns
    assert header.startswith(f"{LONG_ID}1") and f"{LONG_SESSION}1" in header and "IN_PROGRESS" in header
    assert "more lines above" in lines[2]
    assert lines[-1] == "line 30 of the answer"  # the newest text is on screen
    assert "line 1 of the answer" not in out.getvalue()


def test_live_view_that_fits_is_shown_whole() -> None:
    console, out = printed(60, height=10, terminal=False)
    view = live_view(execution(1, answer="short"))
    assert isinstance(view, LiveTail)
    console.print(view)
    assert "more lines above" not in out.getvalue() and "Agent: short" in out.getvalue()


def sse_body(*states: dict) -> bytes:
    events = [f"id: {s['version']}\nevent: state\ndata: {json.dumps(s)}\n\n" for s in states]
    events.append(f"event: end\ndata: {json.dumps({'phase': states[-1]['status']['phase']})}\n\n")
    return "".join(events).encode()


def test_watch_on_a_small_terminal_ends_with_one_whole_final_render() -> None:
    states = [execution(i, "EXECUTION_IN_PROGRESS", "\n".join(ANSWER.splitlines()[:i * 10])) for i in (1, 2)]
    states.append(execution(3, "EXECUTION_COMPLETED", ANSWER))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse_body(*states))

    console, out = printed(60, height=10, terminal=True)
    with ApiClient("http://test", transport=httpx.MockTransport(handler)) as client:
        assert watch(client, states[0], console) == 0
    output = out.getvalue()
    # Each live frame is erased line by line (cursor up, erase line); what follows the
    # last erase is the final render, printed once and whole.
    *frames, final = re.split(r"\r?(?:\x1b\[2K)?(?:\x1b\[1A\x1b\[2K)+", output)
    plain = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
    assert f"{LONG_ID}3" in final and "COMPLETED" in final
    for i in range(1, 31):
        assert f"line {i} of the answer" in final
    assert final.count("Agent: ") == 1 and "more lines above" not in final
    # Every frame fits the 10-line screen with a line to spare (the line break that ends
    # the live display must not scroll its top into the scrollback), and shows the newest
    # text it had.
    assert len(frames) >= 2
    for frame in frames:
        assert len(plain.sub("", frame).splitlines()) <= 9
    assert plain.sub("", frames[-1]).rstrip().endswith("line 30 of the answer")
