"""The HTML report, opened in Chromium: self-contained (it fetches nothing), every scenario a row,
a failure's diff on screen.  Its screenshot goes to tests/artifacts/conform-report.png
(docs/conform-report.png is a copy from a run)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_conform import NAMES, served_hub

from ctibridge.cli import main
from ctibridge.engine import tables

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


async def test_html_report_in_chromium(
    browser: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(
        tables.ENABLED_CALL_BUTTONS["two_party"],
        "agent",
        frozenset({"consult", "numberpad", "transfer"}),
    )
    report = tmp_path / "conform.html"
    async with served_hub() as hub:
        code = await asyncio.to_thread(main, ["conform", hub.url, "--html", str(report)])
    assert code == 1
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(report.as_uri())
    rows = page.locator("tbody tr")
    assert await rows.count() == len(NAMES)
    failed = page.locator("tbody tr", has=page.locator(".st.FAIL"))
    assert await failed.count() > 0
    first = failed.first.locator("pre")
    await first.wait_for(state="visible")
    assert (
        'message.call.ButtonStates.items.transfer: expected "Hide", got "Enable" '
        "(published Answer sample)"
    ) in await first.inner_text()
    assert requests == [report.as_uri()]  # nothing fetched: the page is self-contained
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "conform-report.png", full_page=False)
    await context.close()
