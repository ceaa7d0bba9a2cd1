"""The workflow executions' web view (`/workflows`) in headless Chromium: the recent list
and an execution's tasks, live."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ai.stigmer.agentic.workflowexecution.v1 import api_pb2
from tests.utils.browser import checked_page, expect, launched_chromium
from tests.utils.workflow_docs import task, workflow
from tests.utils.workflow_stack import WorkflowStack, unique, until_ended


@pytest.fixture
async def page() -> AsyncIterator[object]:
    async with launched_chromium() as browser, checked_page(browser, viewport={"width": 1280, "height": 720}) as page:
        yield page


async def test_the_view_lists_executions_and_shows_one_with_its_tasks(wf: WorkflowStack, page) -> None:
    created = await wf.workflows.create(workflow(
        unique("web"), task("hello", "SET", {"variables": {"greeting": "hi"}}),
        task("oops", "RAISE", {"error": "Nope", "message": "stopped here"}),
    ))
    request = api_pb2.WorkflowExecution()
    request.spec.workflow_id = created.metadata.id
    execution_id = (await wf.commands.create(request)).metadata.id
    await until_ended(wf, execution_id)
    await page.goto(f"{wf.stack.http_url}/workflows")
    await expect(page.locator("#recent li", has_text=execution_id)).to_be_visible()
    await page.locator("#recent li", has_text=execution_id).click()
    await expect(page.locator("#detail .badge")).to_have_text("FAILED")
    await expect(page.locator("#tasks li.COMPLETED", has_text="hello")).to_contain_text('{"greeting":"hi"}')
    await expect(page.locator("#tasks li.FAILED", has_text="oops")).to_contain_text("stopped here")
