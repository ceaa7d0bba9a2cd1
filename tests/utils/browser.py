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
