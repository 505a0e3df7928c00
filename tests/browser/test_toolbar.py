"""The agent toolbar in real Chromium, driven by clicks only, against a live hub.

``BUTTONS`` is docs/protocol.md §4.2 written out literally (tests/support/buttons.py, not read
from the engine): at every step the call buttons visible in each connection row must be exactly
its row's.  ``AGENT`` is the
agent-button rule of §4.4 for the states the call passes through.
"""

from __future__ import annotations

import re

import msgspec
import pytest
from playwright.async_api import Page, WebSocket, expect
from toolbar_page import ARTIFACTS, Toolbar

from support.buttons import SITUATIONS

pytestmark = pytest.mark.browser

S = frozenset
CUSTOMER = "+15551234567"
THIRD = "+15557654321"

# situation -> connection row on screen -> enabled call buttons: §4.2 (support/buttons.py); the
# ended call keeps its customer leg (disconnected) until cleared, the third party left the screen
BUTTONS: dict[str, dict[str, frozenset[str]]] = {"no call": {}, **SITUATIONS}
BUTTONS["ACW"] = {role: b for role, b in SITUATIONS["ACW"].items() if role != "third"}
# shown agent state -> enabled agent buttons, docs/protocol.md §4.4
# (rev 2: as the published samples; a Mute event changes only mute/unmute)
AGENT: dict[str, frozenset[str]] = {
    "Available": S({"NotReady", "make_call", "mute"}),
    "Break": S({"NotReady", "Ready", "make_call", "mute"}),
    "PendingBusy": S({"NotReady", "Ready", "mute"}),
    "CallingCustomer": S({"NotReady", "Ready", "mute"}),
    "Busy": S({"NotReady", "Ready", "mute"}),
    "Busy, muted": S({"NotReady", "Ready", "unmute"}),
    "AfterCallWork": S({"NotReady", "Ready", "make_call", "mute"}),
    "MissedCallAgent": S({"NotReady", "Ready", "make_call", "mute"}),
}


async def at(toolbar: Toolbar, situation: str, state: str) -> None:
    await toolbar.expect_buttons(BUTTONS[situation], situation)
    await toolbar.expect_agent(state.split(",")[0], AGENT[state])


async def ring(toolbar: Toolbar, number: str = CUSTOMER, queue: str = "Sales") -> None:
    await toolbar.page.get_by_label("Caller").fill(number)
    await toolbar.page.get_by_label("Queue").select_option(queue)
    await toolbar.simulate("Incoming call")
    await at(toolbar, "ringing", "PendingBusy")
    await expect(toolbar.row("customer").locator(".number")).to_have_text(number)
    await expect(toolbar.page.locator(".contact h3")).to_have_text(f"Inbound call · {queue}")


async def on_a_call(live, page: Page) -> Toolbar:
    """The toolbar of agent1, on a call it answered."""
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await ring(toolbar)
    await toolbar.press("agent", "answer")
    await at(toolbar, "2-party connected", "Busy")
    return toolbar


async def test_a_full_call_by_clicking_shows_the_hubs_buttons_at_every_step(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await at(toolbar, "no call", "Available")

    await ring(toolbar)
    await toolbar.press("agent", "answer")
    await at(toolbar, "2-party connected", "Busy")

    await page.get_by_role("button", name="Mute", exact=True).click()
    await at(toolbar, "2-party connected", "Busy, muted")
    await expect(page.locator("#agent-muted")).to_be_visible()
    await page.get_by_role("button", name="Unmute", exact=True).click()
    await at(toolbar, "2-party connected", "Busy")

    await toolbar.press("customer", "hold")
    await at(toolbar, "2-party held", "Busy")
    await expect(toolbar.row("customer").locator(".status")).to_have_text("hold")
    await toolbar.press("customer", "resume")
    await at(toolbar, "2-party connected", "Busy")

    await page.get_by_label("Consult / transfer to").fill(THIRD)
    await toolbar.press("agent", "consult")
    await at(toolbar, "consult: third party connecting", "Busy")
    await expect(toolbar.row("third").locator(".number")).to_have_text(THIRD)
    await toolbar.simulate("Third party answers")
    await at(toolbar, "consult: third party connected, customer held", "Busy")

    await toolbar.press("agent", "conference")
    await at(toolbar, "conference", "Busy")
    await page.get_by_text("Call variables (2)").click()
    variables = page.locator(".contact .variables")
    await expect(variables.locator("dt")).to_have_text(["ANI", "DNIS"])
    await expect(variables.locator("dd").first).to_have_text(CUSTOMER)
    await expect(variables.locator("dd").first).to_be_visible()
    await page.locator("#log-list summary").first.click()
    await expect(page.locator("#log-list pre").first).to_contain_text('"CallState": "connected"')
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "toolbar-conference.png", full_page=True)

    await toolbar.press("customer", "disconnect")
    await at(toolbar, "ACW", "AfterCallWork")
    await toolbar.press("agent", "clearContact")
    await at(toolbar, "no call", "Available")
    await expect(page.locator("#alerts [data-type]")).to_have_count(0)  # nothing failed


async def test_a_failure_is_shown_with_its_type_and_nothing_changes(live, page: Page):
    toolbar = await on_a_call(live, page)

    await page.get_by_label("Command").select_option("Hold")
    await toolbar.simulate("Fail next")
    await toolbar.press("customer", "hold")
    failure = toolbar.alert("HOLD_CALL_FAILED")
    await expect(failure).to_be_visible()
    await expect(failure).to_have_attribute("role", "alert")
    await expect(failure).to_contain_text("Call hold failed.")
    await expect(failure).to_contain_text("InternalServiceException: simulated failure")
    await expect(failure).to_contain_text("InboundCall/Hold")
    await at(toolbar, "2-party connected", "Busy")

    await toolbar.press("customer", "hold")  # the retry succeeds: the old failure goes
    await at(toolbar, "2-party held", "Busy")
    await expect(failure).to_have_count(0)
    await expect(page.locator("#log-list")).to_contain_text("HOLD_CALL_FAILED")  # kept there

    await page.get_by_label("Command").select_option("Resume")
    await toolbar.simulate("Fail next")
    await toolbar.press("customer", "resume")
    await expect(toolbar.alert("RESUME_CALL_FAILED")).to_be_visible()
    await toolbar.alert("RESUME_CALL_FAILED").get_by_role("button", name="Dismiss").click()
    await expect(toolbar.alert("RESUME_CALL_FAILED")).to_have_count(0)


async def test_consult_waits_for_a_valid_target_typed_beside_it(live, page: Page):
    toolbar = await on_a_call(live, page)
    consult = toolbar.row("agent").get_by_role("button", name="Consult", exact=True)
    transfer = toolbar.row("agent").get_by_role("button", name="Transfer", exact=True)
    target = toolbar.row("agent").get_by_label("Consult / transfer to")  # in the agent's row
    await expect(target).to_have_value("")
    await expect(target).not_to_have_attribute("placeholder", re.compile("."))
    await expect(consult).to_be_disabled()
    await expect(transfer).to_have_count(0)  # Transfer is Hide on a two-party call (§4.2)

    await target.fill("sales desk")
    await expect(target).to_have_attribute("aria-invalid", "true")
    await expect(toolbar.row("agent").locator(".target-hint")).to_have_text(
        "Not a phone number: use a phone number such as +15557654321."
    )
    await expect(consult).to_be_disabled()
    await toolbar.row("agent").get_by_label("Target kind").select_option("quickConnect")
    await expect(consult).to_be_enabled()  # any name may be a quick connect
    await toolbar.row("agent").get_by_label("Target kind").select_option("phone")
    await target.fill("+1 (555) 765-4321")
    await expect(target).to_have_attribute("aria-invalid", "false")
    await expect(consult).to_be_enabled()
    await consult.click()
    await at(toolbar, "consult: third party connecting", "Busy")
    await expect(toolbar.row("third").locator(".number")).to_have_text(THIRD)
    await expect(page.locator("#alerts [data-type]")).to_have_count(0)


async def test_make_call_waits_for_a_number(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await page.get_by_role("button", name="Make call").click()
    dialer = page.get_by_role("form", name="Make a call")
    call = dialer.get_by_role("button", name="Call")
    await expect(call).to_be_disabled()
    await dialer.get_by_label("Number to call").fill("12")
    await expect(dialer.locator("#dial-hint")).to_contain_text("Not a phone number")
    await expect(call).to_be_disabled()
    await dialer.get_by_role("button", name="digit 3").click()  # the keypad counts as typing
    await expect(call).to_be_enabled()


async def test_the_keyboard_alone_answers_holds_and_resumes(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await ring(toolbar)
    await toolbar.row("agent").get_by_role("button", name="Answer").focus()
    await page.keyboard.press("Enter")
    await at(toolbar, "2-party connected", "Busy")
    # the pressed button vanished: focus moved to the nearest usable one of the same row
    # (Consult waits for a target)
    await expect(toolbar.row("agent").get_by_role("button", name="Dial pad")).to_be_focused()

    await toolbar.row("customer").get_by_role("button", name="Hold").focus()
    await page.keyboard.press("Enter")
    await at(toolbar, "2-party held", "Busy")
    resume = toolbar.row("customer").get_by_role("button", name="Resume")
    await expect(resume).to_be_focused()
    await page.keyboard.press("Enter")
    await at(toolbar, "2-party connected", "Busy")
    await expect(toolbar.row("customer").get_by_role("button", name="Hold")).to_be_focused()


async def test_fits_a_360_px_phone_without_horizontal_scrolling(live, page: Page):
    await page.set_viewport_size({"width": 360, "height": 740})
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await ring(toolbar)
    await toolbar.press("agent", "answer")
    await page.get_by_label("Consult / transfer to").fill(THIRD)
    await toolbar.press("agent", "consult")
    await at(toolbar, "consult: third party connecting", "Busy")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    for button in await page.locator("button").filter(visible=True).all():
        box = await button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360


async def test_resume_after_a_lost_connection_replays_what_was_missed(live, page: Page):
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await ring(toolbar)
    seen = live.hub.journal.last_seq("agent1")

    await live.stop_serving(stop_hub=False)  # the network goes; the hub and its journal stay
    await toolbar.expect_link("reconnecting")
    await live.advance(20)  # meanwhile nobody answers: the call is missed
    assert live.hub.journal.last_seq("agent1") > seen
    await live.serve()

    await toolbar.expect_link("connected")
    await at(toolbar, "missed", "MissedCallAgent")
    assert f"resumeFrom={seen}" in sockets[-1].url
    await expect(page.locator("#log-list")).to_contain_text(f"#{seen + 1} ")
    await expect(toolbar.alert("RESUME_GAP")).to_have_count(0)


async def test_after_the_hub_restarts_the_page_reconnects_and_shows_the_truth(live, page: Page):
    sockets: list[WebSocket] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    toolbar = await on_a_call(live, page)
    seen = live.hub.journal.last_seq("agent1")

    await live.stop_serving()
    await toolbar.expect_link("reconnecting")
    await live.restart()  # a new hub on the same port: fresh simulator, empty journal

    await toolbar.expect_link("connected")
    assert re.search(rf"resumeFrom={seen}\b", sockets[-1].url)
    # the new hub knows no call: the page says so, and says why it rebuilt
    await at(toolbar, "no call", "Available")
    await expect(toolbar.alert("RESUME_GAP")).to_be_visible()
    # and it is live on the new hub
    await ring(toolbar, "+15550001111")
    await toolbar.press("agent", "answer")
    await at(toolbar, "2-party connected", "Busy")


async def test_root_lists_the_agents_and_links_to_their_toolbars(live, page: Page):
    await page.goto(live.http)
    agents = page.locator("#agent-list a")
    await expect(agents).to_have_count(5)
    await agents.first.click()
    await expect(page).to_have_url(f"{live.http}/agent/agent1")
    await expect(page.locator("#agent-name")).to_have_text("Agent 1")


async def test_an_unknown_agent_gets_no_toolbar_but_the_list_of_agents(live, page: Page):
    await page.goto(f"{live.http}/agent/agent9")
    await expect(page.get_by_role("alert")).to_have_text('No agent "agent9" on this hub.')
    await expect(page.locator("#toolbar")).to_be_hidden()
    agents = page.locator("#agent-list a")
    await expect(agents).to_have_count(5)
    await agents.nth(1).click()
    await expect(page).to_have_url(f"{live.http}/agent/agent2")
    await expect(page.locator("#agent-name")).to_have_text("Agent 2")


async def test_dial_pad_calls_out_sends_digits_and_the_state_selector_enqueues(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    make_call = page.get_by_role("button", name="Make call")
    await make_call.click()
    await expect(make_call).to_have_attribute("aria-expanded", "true")
    dialer = page.get_by_role("form", name="Make a call")
    await dialer.get_by_label("Number to call").fill(CUSTOMER[:-1])
    await dialer.get_by_role("button", name=f"digit {CUSTOMER[-1]}").click()
    await dialer.get_by_role("button", name="Call").click()
    await at(toolbar, "outbound dialling", "CallingCustomer")
    await expect(page.locator(".contact h3")).to_have_text("Outbound call")
    await expect(dialer).to_be_hidden()  # make_call is no longer enabled

    await page.get_by_label("Dialled party").select_option("answer")
    await toolbar.simulate("Outbound result")
    await at(toolbar, "2-party connected", "Busy")

    await toolbar.press("agent", "numberpad")
    digits = page.get_by_role("form", name="Send digits")
    await expect(digits.get_by_label("Digits to send")).to_be_focused()
    for key in "12#":
        await digits.get_by_role("button", name=f"digit {key}").click()
    await digits.get_by_role("button", name="Send digits").click()
    await expect(page.locator("#log-list")).to_contain_text('sent OutboundCall/NumberPad "12#"')
    await at(toolbar, "2-party connected", "Busy")

    await page.get_by_label("Agent state").select_option("Break")
    await page.get_by_role("button", name="Set state").click()
    await expect(page.locator("#agent-next")).to_have_text("· next: Break")  # enqueued
    await toolbar.press("customer", "disconnect")
    await at(toolbar, "ACW", "AfterCallWork")
    await toolbar.press("agent", "clearContact")
    await at(toolbar, "no call", "Break")
    await expect(page.locator("#agent-next")).to_be_hidden()
    await page.get_by_role("button", name="Ready", exact=True).click()
    await at(toolbar, "no call", "Available")
    await expect(page.locator("#alerts [data-type]")).to_have_count(0)


async def test_simulated_parties_hang_up(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await ring(toolbar)
    await toolbar.press("agent", "answer")
    await page.get_by_label("Consult / transfer to").fill(THIRD)
    await toolbar.press("agent", "consult")
    await toolbar.simulate("Third party answers")
    await at(toolbar, "consult: third party connected, customer held", "Busy")
    await toolbar.simulate("Third party hangs up")  # the consulted party leaves the card
    await at(toolbar, "2-party held", "Busy")
    await toolbar.press("customer", "resume")
    await toolbar.simulate("Customer hangs up")
    await at(toolbar, "ACW", "AfterCallWork")


async def test_the_event_log_keeps_the_last_200_messages(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    # 210 frames at once exceed the default per-connection burst (RATE_LIMITED is tested in
    # tests/hub): this app connects with a larger budget
    limits = msgspec.structs.replace(live.hub.settings.limits, rate_burst=1000)
    live.hub.settings = msgspec.structs.replace(live.hub.settings, limits=limits)
    other = await live.connect(source="another-app")
    for _ in range(210):  # each answered by a SetAgentState to every app of the agent
        await other.send("Simulator", "FailNext", {"subtopic": "Hold"})
    await other.request("Agent", "StateSync")  # answered after all of them
    last = live.hub.journal.last_seq("agent1")
    assert last == 210
    entries = page.locator("#log-list > li")
    await expect(entries.first).to_contain_text(f"#{last} SetAgentState Available")
    await expect(entries).to_have_count(200)
    await expect(page.locator("#log-count")).to_have_text("(200)")
    await expect(entries.last).to_contain_text(f"#{last - 199} ")


async def test_log_out_and_back_in(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#agent-state")).to_have_text("Logged out")
    await expect(page.locator("header button[data-agent]").filter(visible=True)).to_have_text(
        ["Log in"]
    )
    await page.get_by_role("button", name="Log in").click()
    await at(toolbar, "no call", "Available")


async def test_every_state_passes_axe_and_is_photographed(live, page: Page):
    """axe-core finds no violation in any state a call passes through; each state's screenshot
    is written to tests/artifacts/toolbar/ (the pictures in docs/toolbar/ are from this test)."""
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await toolbar.check_and_photograph("idle")
    await ring(toolbar)
    await toolbar.check_and_photograph("ringing")
    await toolbar.press("agent", "answer")
    await at(toolbar, "2-party connected", "Busy")
    await toolbar.check_and_photograph("connected")
    await toolbar.press("customer", "hold")
    await at(toolbar, "2-party held", "Busy")
    await toolbar.check_and_photograph("hold")
    await toolbar.row("agent").get_by_label("Consult / transfer to").fill(THIRD)
    await toolbar.press("agent", "consult")
    await toolbar.simulate("Third party answers")
    await at(toolbar, "consult: third party connected, customer held", "Busy")
    await toolbar.check_and_photograph("consult")
    await toolbar.press("agent", "conference")
    await at(toolbar, "conference", "Busy")
    await toolbar.check_and_photograph("conference")
    await page.get_by_label("Command").select_option("Hold")
    await toolbar.simulate("Fail next")
    await toolbar.press("customer", "hold")
    await expect(toolbar.alert("HOLD_CALL_FAILED")).to_be_visible()
    await toolbar.check_and_photograph("failure")
    await toolbar.press("customer", "disconnect")
    await at(toolbar, "ACW", "AfterCallWork")
    await toolbar.check_and_photograph("acw")
    await page.goto(f"{live.http}/agent/agent9")
    await expect(page.get_by_role("alert")).to_be_visible()
    await toolbar.check_and_photograph("unknown-agent")


async def test_state_selector_shows_the_actual_state_then_the_next_one(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    selector = page.locator("#state-select")
    chosen = selector.locator("option:checked")
    await expect(chosen).to_have_text("Available (routable)")
    await expect(page.locator("#state-select-label")).to_have_text("Agent state")

    await ring(toolbar)
    await toolbar.press("agent", "answer")
    await at(toolbar, "2-party connected", "Busy")
    await expect(chosen).to_have_text("Busy (now)")  # not "Available": the truth
    await expect(chosen).to_be_disabled()

    await selector.select_option("Break")
    await page.get_by_role("button", name="Set state").click()
    await expect(page.locator("#agent-next")).to_have_text("· next: Break")
    await expect(page.locator("#state-select-label")).to_have_text("Next state")
    await expect(chosen).to_have_text("Break (not routable)")
    await toolbar.press("customer", "disconnect")
    await at(toolbar, "ACW", "AfterCallWork")
    await expect(chosen).to_have_text("Break (not routable)")  # still what comes next
    await toolbar.press("agent", "clearContact")
    await expect(page.locator("#agent-state")).to_have_text("Break")
    await expect(page.locator("#state-select-label")).to_have_text("Agent state")
    await expect(chosen).to_have_text("Break (not routable)")


async def test_rows_read_as_sentences_and_the_agent_can_leave_a_conference(live, page: Page):
    toolbar = Toolbar(page, live.http)
    await toolbar.open()
    await ring(toolbar)
    head = toolbar.row("agent").locator(".conn-head")
    await expect(head).to_contain_text("You")
    await expect(head).not_to_contain_text("agent")  # no "Agent you agent"
    await expect(toolbar.row("agent").locator(".status")).to_have_text("ringing")
    waiting = toolbar.row("customer").locator(".status")
    await expect(waiting).to_have_text("waiting for you")
    await expect(toolbar.row("customer")).to_have_attribute("data-tone", "waiting")
    colour = "(e) => getComputedStyle(e).color"
    waiting_colour = await waiting.evaluate(colour)

    await toolbar.press("agent", "answer")
    await expect(waiting).to_have_text("connected")
    assert await waiting.evaluate(colour) != waiting_colour  # green only once it is connected
    await toolbar.row("agent").get_by_label("Consult / transfer to").fill(THIRD)
    await toolbar.press("agent", "consult")
    await toolbar.simulate("Third party answers")
    await toolbar.press("agent", "conference")
    await at(toolbar, "conference", "Busy")  # End call / Drop third party / Leave conference
    await toolbar.press("agent", "transfer", "conference")  # "Leave conference"
    # the agent left; customer and third party stay connected to each other
    await expect(page.locator("#agent-state")).to_have_text("AfterCallWork")
    await expect(toolbar.alert("TRANSFER_CALL_FAILED")).to_have_count(0)
    await expect(page.locator("#log-list")).to_contain_text("sent InboundCall/Transfer")
