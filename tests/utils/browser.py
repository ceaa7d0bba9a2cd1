"""Headless Chromium for the web view's tests (Debian's package, driven by Playwright).

Importing this skips the importing test module when Chromium or Playwright is missing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is missing (pip install playwright)"
)
expect = playwright_api.expect


@contextlib.asynccontextmanager
async def launched_chromium() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield browser
        await browser.close()


@contextlib.asynccontextmanager
async def checked_page(browser: object, **options: object) -> AsyncIterator[object]:
    """A fresh page; any uncaught script error fails the test that used it."""
    context = await browser.new_context(**options)  # type: ignore[attr-defined]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert not errors, f"script errors on the page: {errors}"
