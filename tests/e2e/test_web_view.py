"""The web view at `/` in a real (headless) Chromium against the whole stack: what a
person sees when they pick an agent, send a message and watch it run, or open an
execution by its link."""

from __future__ import annotations

import asyncio
import os
import re
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.utils.browser import checked_page, expect, launched_chromium
from tests.utils.stack import Stack, create_agent, stack_settings, start_server

RUN_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 720}
COMPLETED_GREEN = "rgb(21, 128, 61)"  # --green: the COMPLETED badge


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    async with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    """WEB_SCREENSHOT_DIR keeps the screenshots for a person to look at."""
    kept = os.environ.get("WEB_SCREENSHOT_DIR")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("screenshots")


async def screenshot(page, directory: Path, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot and check it is a real PNG of the page's size (not a blank error)."""
    path = directory / f"{name}.png"
    data = await page.screenshot(path=str(path), full_page=full_page)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == page.viewport_size["width"] and height >= page.viewport_size["height"]
    return path


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:
    """A fresh page; any uncaught script error fails the test that caused it."""
    async with checked_page(browser, viewport=VIEWPORT) as page:
        yield page


async def test_a_person_runs_an_agent_and_watches_it_live(stack: Stack, page) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}"
    await create_agent(stack, name=name)
    message = f"hello from the browser {uuid.uuid4().hex[:6]}"

    await page.goto(stack.http_url + "/")
    await page.get_by_label("Agent", exact=True).select_option(label=name)  # waits for the list
    await page.get_by_label("Message", exact=True).fill(message)
    await page.get_by_role("button", name="Run").click()

    await expect(page).to_have_url(re.compile(r"#aex_\w+$"))
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)
    await expect(page.get_by_test_id("answer")).to_contain_text(f'You asked: "{message}"')

    tool = page.get_by_test_id("tool-calls").locator("li", has_text="get_current_time")
    await expect(tool).to_have_attribute("data-status", "COMPLETED")
    await expect(tool).to_contain_text("✓")

    todos = page.get_by_test_id("todos").locator("li")
    await expect(todos).to_have_count(3)
    await expect(todos.first).to_contain_text("Understand the request")
    await expect(todos.first).to_have_attribute("data-status", "COMPLETED")

    sub_agent = page.get_by_test_id("sub-agents").locator("li", has_text="researcher")
    await expect(sub_agent).to_have_attribute("data-status", "COMPLETED")
    await expect(page.get_by_test_id("error")).to_be_hidden()
    await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()


async def test_an_execution_opens_from_its_link(stack: Stack, page) -> None:
    agent_id = await create_agent(stack)
    async with httpx.AsyncClient(base_url=stack.http_url) as client:
        response = await client.post("/v1/agent-executions",
                                     json={"spec": {"message": "opened by link", "agent_id": agent_id}})
    execution_id = response.json()["metadata"]["id"]

    await page.goto(f"{stack.http_url}/#{execution_id}")
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)
    await expect(page.get_by_text(execution_id, exact=True)).to_be_visible()
    await expect(page.get_by_test_id("answer")).to_contain_text('You asked: "opened by link"')


async def test_a_failed_execution_shows_its_error(stack: Stack, page) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}"
    await create_agent(stack, name=name)
    await page.goto(stack.http_url + "/")
    await page.get_by_label("Agent", exact=True).select_option(label=name)
    await page.get_by_label("Message", exact=True).fill("please [fail]")
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_test_id("phase")).to_have_text("FAILED", timeout=RUN_TIMEOUT_MS)
    await expect(page.get_by_test_id("error")).to_be_visible()
    await expect(page.get_by_test_id("error")).not_to_be_empty()


async def test_an_unknown_execution_id_says_so(stack: Stack, page) -> None:
    await page.goto(f"{stack.http_url}/#aex_doesnotexist")
    await expect(page.get_by_test_id("error")).to_contain_text("not found", timeout=RUN_TIMEOUT_MS)


async def test_api_docs_render_with_the_network_off(stack: Stack, browser, screenshot_dir: Path) -> None:
    """Swagger UI and ReDoc come from the server itself: a browser that can reach nothing
    but the server (a firewall, a plane) still gets working API docs."""
    context = await browser.new_context(viewport=VIEWPORT)
    server = urlsplit(stack.http_url).netloc
    blocked: list[str] = []

    async def only_the_server(route) -> None:
        if urlsplit(route.request.url).netloc == server:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_the_server)
    page = await context.new_page()
    try:
        await page.goto(stack.http_url + "/docs")
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("stigmer-service")
        operation = page.locator(".opblock-summary-path", has_text="/v1/agent-executions/{execution_id}/cancel")
        await expect(operation).to_be_visible()
        await screenshot(page, screenshot_dir, "docs-offline")
        assert blocked == [], f"/docs asked the internet for {blocked}"

        await page.goto(stack.http_url + "/redoc")
        await expect(page.get_by_role("heading", name=re.compile("stigmer-service"))).to_be_visible()
        await expect(page.get_by_text("/v1/agent-executions/{execution_id}/cancel").first).to_be_attached()
    finally:
        await context.close()
    # ReDoc's footer links its vendor's logo from a CDN; without it the docs work the same.
    assert [url for url in blocked if not url.startswith("https://cdn.redoc.ly/redoc/logo")] == []


async def test_a_fresh_page_offers_no_actions_on_an_execution(stack: Stack, page, screenshot_dir) -> None:
    await page.goto(stack.http_url + "/")
    await expect(page.get_by_role("button", name="Run")).to_be_visible()
    await expect(page.get_by_role("heading", name="Recent executions")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    await expect(page.get_by_role("button", name="Continue this session")).to_be_hidden()
    await expect(page.get_by_test_id("phase")).to_be_hidden()
    await screenshot(page, screenshot_dir, "fresh-page")


async def test_opening_an_unknown_id_after_another_execution_clears_it(stack: Stack, page, screenshot_dir) -> None:
    agent_id = await create_agent(stack)
    async with httpx.AsyncClient(base_url=stack.http_url) as client:
        response = await client.post("/v1/agent-executions",
                                     json={"spec": {"message": "the first one", "agent_id": agent_id}})
    first = response.json()
    await page.goto(f"{stack.http_url}/#{first['metadata']['id']}")
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)
    await expect(page.get_by_role("button", name="Continue this session")).to_be_visible()
    await expect(page.get_by_text(first["spec"]["session_id"])).to_be_visible()

    await page.get_by_label("Open an execution").fill("aex_doesnotexist")
    await page.get_by_role("button", name="Open", exact=True).click()

    await expect(page.get_by_test_id("error")).to_contain_text("not found", timeout=RUN_TIMEOUT_MS)
    await expect(page.get_by_text("aex_doesnotexist", exact=True)).to_be_visible()
    for stale in (page.get_by_test_id("phase"), page.get_by_test_id("answer"), page.get_by_test_id("tool-calls"),
                  page.get_by_role("button", name="Cancel"),
                  page.get_by_role("button", name="Continue this session")):
        await expect(stale).to_be_hidden()
    await expect(page.locator("#execution")).not_to_contain_text(first["spec"]["session_id"])
    await expect(page.locator("#execution")).not_to_contain_text("the first one")
    await screenshot(page, screenshot_dir, "unknown-after-known")


async def test_the_page_follows_the_streaming_answer(stack: Stack, page, screenshot_dir) -> None:
    """A long answer grows below the fold; after each update its end is on screen."""
    name = f"web-long-{uuid.uuid4().hex[:6]}"
    await _agent_with_model(stack, name, "scripted:1500")
    await page.set_viewport_size({"width": 1000, "height": 600})
    await page.goto(stack.http_url + "/")
    # After each change of the answer (the render that made it has finished), record
    # whether the end of the conversation is in the viewport.
    await page.evaluate("""() => {
        window.inViewAfterRender = [];
        new MutationObserver(() => {
            const bottom = document.getElementById("conversation").getBoundingClientRect().bottom;
            window.inViewAfterRender.push(bottom >= 0 && bottom <= window.innerHeight + 1);
        }).observe(document.getElementById("answer"), { childList: true, characterData: true, subtree: true });
    }""")
    await page.get_by_label("Agent", exact=True).select_option(label=name)
    await page.get_by_label("Message", exact=True).fill("tell me a long story")
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)

    page_height = await page.evaluate("document.documentElement.scrollHeight")
    assert page_height > 600 * 1.5, "the answer should reach far below the fold"
    assert await page.evaluate("window.scrollY") > 0
    records = await page.evaluate("window.inViewAfterRender")
    assert len(records) >= 3 and all(records), records
    await expect(page.get_by_test_id("answer")).to_be_in_viewport()
    await screenshot(page, screenshot_dir, "followed-stream")


async def _agent_with_model(stack: Stack, name: str, model_name: str) -> str:
    from ai.stigmer.agentic.agent.v1.api_pb2 import Agent
    from domain.resource_rules import DEFAULT_MODEL_ANNOTATION

    request = Agent()
    request.metadata.name = name
    request.metadata.annotations[DEFAULT_MODEL_ANNOTATION] = model_name
    request.spec.instructions = "You tell stories."
    agent = await stack.context.service.resources.agents.create(request)
    return agent.metadata.id


async def test_the_agent_picker_prefers_the_last_used_then_demo(stack: Stack, page) -> None:
    await _agent_with_model(stack, "demo", "scripted")
    first_alphabetically = f"aaa-{uuid.uuid4().hex[:6]}"
    await _agent_with_model(stack, first_alphabetically, "scripted")
    picker = page.get_by_label("Agent", exact=True)

    await page.goto(stack.http_url + "/")
    await expect(picker.locator("option", has_text=first_alphabetically)).to_have_count(1)
    await expect(picker.locator("option:checked")).to_have_text("demo")

    await picker.select_option(label=first_alphabetically)
    await page.get_by_label("Message", exact=True).fill("remember my agent")
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)

    await page.goto(stack.http_url + "/")
    await expect(picker.locator("option", has_text=first_alphabetically)).to_have_count(1)
    await expect(picker.locator("option:checked")).to_have_text(first_alphabetically)


async def test_the_api_key_placeholder_is_shown_whole(stack: Stack, page) -> None:
    await page.goto(stack.http_url + "/")
    key = page.get_by_test_id("api-key")
    await expect(key).to_have_attribute("placeholder", re.compile(r"\w"))
    room, needed = await key.evaluate("""(input) => {
        const style = getComputedStyle(input);
        const context = document.createElement("canvas").getContext("2d");
        context.font = style.font;
        const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return [room, context.measureText(input.placeholder).width];
    }""")
    assert needed <= room, f"placeholder needs {needed:.0f}px, the field has {room:.0f}px"


async def test_recent_executions_show_live_phases_and_open_on_click(stack: Stack, page, screenshot_dir) -> None:
    agent_id = await create_agent(stack)
    message = f"listed {uuid.uuid4().hex[:6]}"
    await stack.stop_runner()  # the execution waits in PENDING until a runner is back
    try:
        async with httpx.AsyncClient(base_url=stack.http_url) as client:
            response = await client.post("/v1/agent-executions",
                                         json={"spec": {"message": message, "agent_id": agent_id}})
        execution_id = response.json()["metadata"]["id"]
        await page.goto(stack.http_url + "/")
        row = page.get_by_test_id("recent").locator(f'a[data-id="{execution_id}"]')
        await expect(row).to_contain_text(message)
        await expect(row.locator(".badge")).to_have_text(re.compile(r"^(PENDING|IN_PROGRESS)$"))
        await screenshot(page, screenshot_dir, "recent-pending")
    finally:
        await stack.restart_runner()

    # No reload: the list keeps the badge live.
    await expect(row.locator(".badge")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)
    assert await row.locator(".badge").evaluate("b => getComputedStyle(b).backgroundColor") == COMPLETED_GREEN
    await expect(row.locator(".when")).to_contain_text("started ")
    assert await row.evaluate("(a) => a.closest('ul').firstElementChild.contains(a)"), "newest first"

    await row.click()
    await expect(page).to_have_url(re.compile(rf"#{execution_id}$"))
    await expect(row).to_have_attribute("aria-current", "true")
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED")
    await expect(page.get_by_test_id("answer")).to_contain_text(f'You asked: "{message}"')
    await screenshot(page, screenshot_dir, "recent-opened")


async def test_the_page_stops_following_when_the_reader_scrolls_up(stack: Stack, page) -> None:
    name = f"web-longer-{uuid.uuid4().hex[:6]}"
    await _agent_with_model(stack, name, "scripted:2500")
    await page.set_viewport_size({"width": 1000, "height": 600})
    await page.goto(stack.http_url + "/")
    await page.get_by_label("Agent", exact=True).select_option(label=name)
    await page.get_by_label("Message", exact=True).fill("a very long story")
    await page.get_by_role("button", name="Run").click()

    # Mid-stream, once the answer reaches below the fold, the reader scrolls back up.
    await page.wait_for_function(
        "document.documentElement.scrollHeight > 2 * window.innerHeight", timeout=RUN_TIMEOUT_MS)
    phase_when_scrolled = await page.evaluate("""() => {
        window.scrollTo(0, 0);
        window.scrollAfterRender = [];
        new MutationObserver(() => window.scrollAfterRender.push(window.scrollY))
            .observe(document.getElementById("answer"), { childList: true, characterData: true, subtree: true });
        return document.querySelector("[data-testid=phase]").textContent;
    }""")
    assert phase_when_scrolled == "IN_PROGRESS"
    await expect(page.get_by_test_id("phase")).to_have_text("COMPLETED", timeout=2 * RUN_TIMEOUT_MS)
    scrolls = await page.evaluate("window.scrollAfterRender")
    assert scrolls and set(scrolls) == {0}, "the page pulled the reader back down"


async def test_a_401_points_the_person_at_the_api_key_field(services, page) -> None:
    settings = stack_settings(services, api_keys="web-view-key")
    stop, server, (http_port, _) = await start_server(settings)
    try:
        await page.goto(f"http://127.0.0.1:{http_port}/")
        note, key = page.get_by_test_id("recent-note"), page.get_by_test_id("api-key")
        await expect(note).to_contain_text("the server needs an API key: enter it in the API key field")
        await expect(key).to_have_attribute("aria-invalid", "true")
        await expect(key).to_have_class(re.compile(r"\bneeds-key\b"))

        # The wrong key's agent list is answered only after the right key is in: a late
        # refusal of a key that was replaced must not mark the field again.
        release, held = asyncio.Event(), []

        async def hold_wrong_key(route) -> None:
            if await route.request.header_value("authorization") == "Bearer not-the-key":
                held.append(route.request)
                await release.wait()
            await route.continue_()

        await page.route("**/v1/agents*", hold_wrong_key)
        await key.fill("not-the-key")
        await key.dispatch_event("change")
        await expect(note).to_contain_text("did not accept this API key")

        await key.fill("web-view-key")
        await key.dispatch_event("change")
        await expect(note).to_have_text("None yet: run one.")
        assert held, "the wrong key's agent list was not held"
        async with page.expect_response(lambda response: response.request in held):
            release.set()
        await page.evaluate("() => new Promise((done) => setTimeout(done, 0))")  # its handlers ran
        await expect(key).not_to_have_attribute("aria-invalid", "true")
    finally:
        stop.set()
        await server


async def test_the_page_has_an_icon(stack: Stack, page) -> None:
    await page.goto(stack.http_url + "/")
    href = await page.locator('link[rel="icon"]').get_attribute("href")
    async with httpx.AsyncClient(base_url=stack.http_url) as client:
        for path in (href, "/favicon.ico"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("image/svg+xml")
            assert response.text.startswith("<svg")
