"""Browser fixtures: Debian's Chromium (installed by ``make sysdeps``) driven by Playwright.

Playwright's own browser download does not work here, so the system Chromium is launched; a
missing browser is an error, never a skip.  Each test gets a fresh browser on the ``live`` hub.
Uncaught exceptions in the page fail the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Error, Page

from support.harness import chromium

DESKTOP = {"width": 1200, "height": 900}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(10_000)
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    try:
        yield page
    finally:
        await context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"
