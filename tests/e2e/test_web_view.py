"""The web view at `/` in a real (headless) Chromium against the whole stack: what a
person sees when they pick an agent, send a message and watch it run, or open an
execution by its link."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Stack, create_agent

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is missing (pip install playwright)"
)
expect = playwright_api.expect

RUN_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:
    """A fresh page; any uncaught script error fails the test that caused it."""
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert not errors, f"script errors on the page: {errors}"


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

    tool = page.get_by_test_id("tool-calls").locator("li", has_text="word_count")
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
