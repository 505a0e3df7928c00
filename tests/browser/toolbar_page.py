"""The toolbar as a test sees it: find things the way a user does and read what is visible.

Every wait is one of Playwright's auto-retrying expectations on visible page state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page, expect

from support.buttons import CALL_BUTTONS

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # gitignored: screenshots
# axe-core from npm (tests/browser/axe/package.json, installed by `make deps` / `make test`)
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"

# what each protocol button is called on screen
CALL_LABELS = {
    "answer": "Answer", "reject": "Reject", "disconnect": "Disconnect", "hold": "Hold",
    "resume": "Resume", "clearContact": "Clear contact", "consult": "Consult",
    "numberpad": "Dial pad", "swap": "Swap", "transfer": "Transfer", "conference": "Conference",
}  # fmt: skip
# buttons labelled by what they do on that row (docs/protocol.md §3.1): Disconnect on the customer
# leg ends the call for the agent, on the third party drops that leg only
ROW_LABELS = {
    ("customer", "disconnect"): "End call",
    ("third", "disconnect"): "Drop third party",
    ("agent", "disconnect"): "Hang up",
}
# ... and by what they do in that situation: Transfer with a third party on the line
SITUATION_LABELS = {
    ("consult: third party connected, customer held", "transfer"): "Complete transfer",
    ("conference", "transfer"): "Leave conference",
}


def label(button: str, role: str, situation: str = "") -> str:
    """What a call button is called on screen."""
    if role == "agent" and (situation, button) in SITUATION_LABELS:
        return SITUATION_LABELS[situation, button]
    return ROW_LABELS.get((role, button), CALL_LABELS[button])


# the agent buttons in the order the toolbar shows them
AGENT_BUTTONS_SHOWN = ("Ready", "NotReady", "make_call", "mute", "unmute")
AGENT_LABELS = {
    "Ready": "Ready", "NotReady": "Not ready", "make_call": "Make call", "mute": "Mute",
    "unmute": "Unmute",
}  # fmt: skip


class Toolbar:
    def __init__(self, page: Page, http: str) -> None:
        self.page = page
        self.http = http

    async def open(self, login: str = "agent1") -> None:
        await self.page.goto(f"{self.http}/agent/{login}")
        await self.expect_link("connected")
        await expect(self.page.locator("#agent-state")).not_to_have_text("unknown")

    # --- reading ------------------------------------------------------------------------------

    @property
    def link(self) -> Locator:
        return self.page.locator("#link-text")

    async def expect_link(self, state: str) -> None:
        await expect(self.link).to_have_text(state)

    def row(self, role: str) -> Locator:
        """The connection row of the (only) contact: agent, customer or third."""
        return self.page.locator(f'#contacts [data-role="{role}"]')

    async def expect_buttons(self, rows: Mapping[str, frozenset[str]], situation: str = "") -> None:
        """Exactly these connection rows are on screen, each showing exactly these buttons."""
        await expect(self.page.locator("#contacts [data-role]")).to_have_count(len(rows))
        for role, enabled in rows.items():
            shown = self.row(role).locator("button[data-button]").filter(visible=True)
            labels = [label(b, role, situation) for b in CALL_BUTTONS if b in enabled]
            if labels:
                await expect(shown).to_have_text(labels)
            else:
                await expect(shown).to_have_count(0)
        if not rows:
            await expect(self.page.locator("#no-calls")).to_be_visible()

    async def expect_agent(self, state: str, enabled: frozenset[str]) -> None:
        await expect(self.page.locator("#agent-state")).to_have_text(state)
        shown = self.page.locator("header button[data-agent]").filter(visible=True)
        labels = [AGENT_LABELS[b] for b in AGENT_BUTTONS_SHOWN if b in enabled]
        await expect(shown).to_have_text([*labels, "Log out"])

    def alert(self, error_type: str) -> Locator:
        return self.page.locator(f'#alerts [data-type="{error_type}"]')

    async def axe_violations(self) -> list[dict[str, Any]]:
        """What axe-core finds wrong with the page as it is now (every rule axe runs by
        default: WCAG 2 A/AA and best practices)."""
        assert AXE.exists(), f"{AXE} is missing: run `make deps`"
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.add_script_tag(path=str(AXE))
        found = await self.page.evaluate(
            "async () => (await axe.run(document)).violations.map((v) => ({id: v.id,"
            " impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' '))}))"
        )
        assert isinstance(found, list)
        return found

    async def check_and_photograph(self, state: str) -> None:
        """axe finds nothing in this state; a screenshot of it goes to tests/artifacts/toolbar/
        (docs/toolbar/ holds copies from a run)."""
        violations = await self.axe_violations()
        assert violations == [], f"axe in state {state!r}:\n{json.dumps(violations, indent=1)}"
        (ARTIFACTS / "toolbar").mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / "toolbar" / f"{state}.png", full_page=True)

    # --- doing --------------------------------------------------------------------------------

    async def press(self, role: str, button: str, situation: str = "") -> None:
        name = label(button, role, situation)
        await self.row(role).get_by_role("button", name=name, exact=True).click()

    async def simulate(self, label: str) -> None:
        await self.page.locator("#sim").get_by_role("button", name=label, exact=True).click()
