"""The web view's JavaScript patch applier (the `status-patch` script of
api/static/index.html) gives exactly what the Python one (core/status_patch.py,
client/live.py) gives, in headless Chromium: on runs of statuses diffed as a server does,
on random changes that fit or do not, and on patches that do not follow the held version.
Then the web view watches recorded streams of state + patches through a real local
server and shows what they add up to."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from client.live import HeldExecution, OutOfStep
from core.status_patch import PatchDoesNotFit, apply_changes
from tests.utils.browser import expect, launched_chromium
from tests.utils.recorded_server import (
    EXECUTION_ID,
    WEB_VIEW,
    RecordedServer,
    body,
    end_event,
    patch_event,
    recorded_server,
    state_event,
)
from tests.utils.status_runs import WORDS, patch_events, random_run

APPLIER = re.search(r'<script id="status-patch">(.*?)</script>', WEB_VIEW.read_text(), re.S).group(1)

# Runs every case in the page: ["ok", result] | ["does_not_fit"] | ["malformed"]. Cases go
# in and out as JSON text, as patches reach the page (keys such as "__proto__" survive).
APPLY_ALL = """(cases) => JSON.stringify(JSON.parse(cases).map(([status, changes]) => {
  try { return ["ok", StatusPatch.applyChanges(status, changes)]; }
  catch (err) { return [err.name === "PatchDoesNotFit" ? "does_not_fit" : "malformed"]; }
}))"""


async def in_page(page, script: str, argument: Any) -> Any:
    """`script` run on `argument` in the page, both ways as JSON text."""
    return json.loads(await page.evaluate(script, json.dumps(argument)))


def python_outcome(status: dict, changes: Any) -> list:
    try:
        return ["ok", apply_changes(status, changes)]
    except PatchDoesNotFit:
        return ["does_not_fit"]
    except (ValueError, TypeError, AttributeError):
        return ["malformed"]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    async with launched_chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
async def applier(page) -> object:
    """A blank page running only the web view's applier script."""
    await page.set_content("<!doctype html><title>applier</title>")
    await page.add_script_tag(content=APPLIER)
    return page


async def test_js_applier_follows_runs_like_the_python_one(applier) -> None:
    for seed in range(12):
        run = random_run(random.Random(seed), steps=60)
        patches = patch_events(run)
        steps = await in_page(
            applier,
            """(input) => {
                 const [start, changeLists] = JSON.parse(input);
                 let status = start;
                 return JSON.stringify(changeLists.map((changes) => (status = StatusPatch.applyChanges(status, changes))));
               }""",
            [run[0], [p.changes for p in patches]],
        )
        assert steps == [p.status for p in patches], f"seed {seed}"
        assert steps[-1] == run[-1]


def mutated_changes(rng: random.Random, status: dict) -> list[dict]:
    """A random change against `status`: mostly ones that fit, some that do not (past the
    end, inside a text, from another length, a phase backwards), some malformed."""
    messages = status.get("messages", [])
    n = len(messages)
    index = rng.choice([0, max(n - 1, 0), n, n + 1, -1, rng.randint(0, n + 2)])
    content = messages[index].get("content", "") if 0 <= index < n else ""
    offset = rng.choice([0, len(content), len(content) + 1, rng.randint(0, len(content) + 1), -2])
    text = "".join(rng.choices(WORDS, k=rng.randint(0, 3)))
    choices: list[dict] = [
        {"append_text": {"index": index, "offset": offset, "text": text}},
        {"append_text": {"index": index, "offset": offset}},
        {"put_message": {"index": index, "message": {"type": "MESSAGE_AI", "content": text}}},
        {"put_tool_call": {"index": rng.randint(0, 3), "tool_call": {"id": "c", "name": "get_time"}}},
        {"put_sub_agent": {"index": rng.randint(0, 2), "sub_agent": {"id": "s"}}},
        {"put_sub_agent": {"sub_agent": {"id": "first"}}},
        {"put_todo": {"key": rng.choice(["a", "b", "", "__proto__"]), "todo": {"id": "x", "content": text}}},
        {"put_todo": {"key": "a"}},
        {"remove_todo": {"key": rng.choice(["a", "b", "todo-1", "todo-2"])}},
        {"remove_todo": {}},
        {"truncate": {"list": rng.choice(["STATUS_LIST_MESSAGES", "STATUS_LIST_TOOL_CALLS",
                                          "STATUS_LIST_SUB_AGENT_EXECUTIONS"]),
                      "length": rng.randint(0, 4), "previous_length": rng.choice([4, n])}},
        {"truncate": {"list": "STATUS_LIST_MESSAGES"}},
        {"truncate": {"list": "STATUS_LIST_UNSPECIFIED", "length": 1}},
        {"truncate": {"list": "STATUS_LIST_MESSAGES", "length": -1}},
        {"set": {"phase": rng.choice(["EXECUTION_COMPLETED", "EXECUTION_PENDING", ""]), "error": text, "version": 9,
                 "messages": []}},
        {"set": {}},
        {"put_message": {"index": "1", "message": {}}},
        {"put_message": {"index": True, "message": {}}},
        {"put_message": {"index": 0, "message": None}},
        {"append_text": []},
        {"rename": {"index": 0}},
        {"set": {}, "truncate": {}},
        {},
    ]
    return rng.sample(choices, k=rng.randint(1, 3))


async def test_js_applier_agrees_on_changes_that_fit_and_that_do_not(applier) -> None:
    rng = random.Random(2026)
    cases = []
    for seed in range(25):
        run = random_run(random.Random(seed), steps=30)
        for status in rng.sample(run, k=8):
            cases.append([status, mutated_changes(rng, status)])
    cases.append([{"messages": [{"content": "🚋🚋x"}]}, [{"append_text": {"offset": 1, "text": "y"}}]])
    cases.append([{"messages": [{"content": "🚋🚋x"}]}, [{"append_text": {"offset": 3, "text": "y"}}]])
    cases.append([{"messages": [{"content": "🚋🚋x"}]}, [{"append_text": {"offset": 4, "text": "y"}}]])
    cases.append([{}, "not a list of changes"])
    cases.append([{}, [None]])
    inputs = copy.deepcopy(cases)

    js_outcomes = await in_page(applier, APPLY_ALL, cases)

    expected = [python_outcome(status, changes) for status, changes in cases]
    outcomes = {outcome[0] for outcome in expected}
    assert outcomes == {"ok", "does_not_fit", "malformed"}  # the cases reach every branch
    assert expected[-5] == ["does_not_fit"]  # inside the text
    assert expected[-4] == ["ok", {"messages": [{"content": "🚋🚋xy"}]}]  # offsets count code points
    assert expected[-3] == ["does_not_fit"]
    for case, python, js in zip(cases, expected, js_outcomes, strict=True):
        assert js == python, case
    assert cases == inputs  # neither applier changes what it is given


async def test_js_patch_rules_match_the_terminal_clients(applier) -> None:
    held = body({"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": "ab"}]}, 5)
    append = [{"append_text": {"offset": 2, "text": "c"}}]
    patches = [
        {"version": 6, "base_version": 5, "changes": append},  # follows
        {"version": 5, "base_version": 4, "changes": append},  # already held
        {"version": 3, "base_version": 2, "changes": append},  # older still
        {"version": 7, "base_version": 6, "changes": append},  # one was missed
        {"version": 6, "base_version": 5, "changes": [{"append_text": {"offset": 7, "text": "c"}}]},
        {"version": 6, "base_version": 5, "changes": [{"put_todo": []}]},
        {"version": "6", "base_version": 5, "changes": append},
        {"base_version": 5, "changes": append},
        {"version": 6, "base_version": 5},  # no changes: only the version moves
    ]

    def python(held_body: dict | None, patch: dict) -> list:
        holder = HeldExecution()
        holder.body = held_body
        try:
            return ["ok", holder.take_patch(json.dumps(patch))]
        except OutOfStep:
            return ["out_of_step"]

    js_outcomes = await in_page(
        applier,
        """(input) => {
             const [held, patches] = JSON.parse(input);
             return JSON.stringify([held, null].flatMap((h) => patches.map((patch) => {
               try { return ["ok", StatusPatch.applyPatch(h, patch)]; }
               catch (err) { return [err.name === "OutOfStep" ? "out_of_step" : "other: " + err]; }
             })));
           }""",
        [held, patches],
    )

    expected = [python(h, p) for h in (held, None) for p in patches]
    assert expected[0][1]["status"]["messages"][0]["content"] == "abc" and expected[0][1]["version"] == 6
    assert expected[1] == expected[2] == ["ok", None]
    assert expected[3] == ["out_of_step"]
    assert js_outcomes == expected


# -- the web view, watching through a real local server ----------------------------------


@pytest.fixture
def server() -> Iterator[RecordedServer]:
    with recorded_server() as recorded:
        yield recorded


async def test_web_view_shows_the_answer_streamed_as_patches(page, server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_HUMAN", "content": "hi"}]}
    answer = "Take tram 28 🚋 to Alfama, then walk 𝔘p to the castle."
    run = [start]
    for end in range(5, len(answer), 5):
        run.append({**start, "messages": [*start["messages"], {"type": "MESSAGE_AI", "content": answer[:end]}]})
    run.append({**start, "phase": "EXECUTION_COMPLETED",
                "todos": {"t1": {"id": "t1", "content": "find a tram", "status": "TODO_COMPLETED"}},
                "messages": [*start["messages"], {"type": "MESSAGE_AI", "content": answer}]})
    patches = patch_events(run)
    server.streams = [state_event(start, 1) + b"".join(map(patch_event, patches)) + end_event("EXECUTION_COMPLETED")]

    await page.goto(f"{server.url}/#{EXECUTION_ID}")

    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED")
    await expect(page.get_by_test_id("answer")).to_have_text(answer)
    await expect(page.get_by_test_id("todos")).to_contain_text("find a tram")
    assert server.asked == [(None, None)]


async def test_web_view_starts_over_from_a_fresh_state_when_a_patch_is_missed(page, server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": "Tram 28"}]}
    planned = {**start, "todos": {"t1": {"id": "t1", "content": "find a tram", "status": "TODO_IN_PROGRESS"}}}
    done = {**planned, "phase": "EXECUTION_COMPLETED",
            "messages": [{"type": "MESSAGE_AI", "content": "Tram 28 🚋 it is."}]}
    to_planned, to_done = patch_events([start, planned, done])
    server.streams = [
        # The patch that adds the plan never arrives; the next one would still fit the text,
        # so only its base version tells. A view that applied it would stop at this `end`.
        state_event(start, 1) + patch_event(to_done) + end_event("EXECUTION_COMPLETED"),
        state_event(to_done.status, to_done.version) + end_event("EXECUTION_COMPLETED"),
    ]
    assert to_planned.version == to_done.base_version != 1

    await page.goto(f"{server.url}/#{EXECUTION_ID}")

    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED")
    await expect(page.get_by_test_id("answer")).to_have_text("Tram 28 🚋 it is.")
    await expect(page.get_by_test_id("todos")).to_contain_text("find a tram")
    assert server.asked == [(None, None), (None, None)]


async def test_web_view_falls_back_to_whole_states_when_patches_never_fit(page, server: RecordedServer) -> None:
    start = {"phase": "EXECUTION_IN_PROGRESS", "messages": [{"type": "MESSAGE_AI", "content": "thinking"}]}
    done = {**start, "phase": "EXECUTION_FAILED", "error": "the model gave up"}
    broken = {"version": 2, "base_version": 1, "changes": [{"append_text": {"offset": 99, "text": "!"}}]}
    patching = state_event(start, 1) + patch_event(broken)
    # Asked for whole states only, a patch that does not apply waits for the next state.
    whole_states = patching + state_event(done, 3) + end_event("EXECUTION_FAILED")
    server.streams = [patching] * 3 + [whole_states]

    await page.goto(f"{server.url}/#{EXECUTION_ID}")

    await expect(page.get_by_test_id("phase")).to_have_text("FAILED")
    await expect(page.get_by_test_id("error")).to_have_text("the model gave up")
    assert server.asked == [(None, None)] * 3 + [(None, "state")]
