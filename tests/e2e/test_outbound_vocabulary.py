"""Outbound contacts speak the published outbound vocabulary (docs/protocol.md §4.1, revision 2):
campaign events on every connection, CallType Regular-Call / Consult, the agent as User."""

from __future__ import annotations

from e2e_support import THIRD, dial, ok, rows, sim


def events_of(events: list[dict[str, object]]) -> list[tuple[str, str, str]]:
    out = []
    for e in events:
        if e["topic"] == "OutboundCall":
            call = e["message"]["call"]  # type: ignore[index]
            out.append((call["ResponseActual"]["type"], call["CallType"], call["event"]))
    return out


async def test_campaign_events_through_a_consult_and_a_conference(live):
    c = await live.connect()
    await dial(c)  # answered: CustAnswered
    assert events_of(await ok(c, "OutboundCall", "Hold")) == [
        ("agent", "Regular-Call", "CustAnswered"),
        ("outbound", "Regular-Call", "Hold"),
    ]
    await ok(c, "OutboundCall", "Resume")
    assert events_of(await ok(c, "OutboundCall", "Consult", THIRD)) == [
        ("agent", "Regular-Call", "CustAnswered"),
        ("outbound", "Regular-Call", "Hold"),
        ("outbound", "Consult", "Consult"),  # the third party: CallType and event Consult
    ]
    assert events_of(await sim(c, "ThirdPartyAnswer")) == [
        ("agent", "Regular-Call", "CustAnswered"),
        ("outbound", "Consult", "Consult"),
    ]
    assert events_of(await ok(c, "OutboundCall", "Swap")) == [
        ("agent", "Regular-Call", "Swapped"),
        ("outbound", "Regular-Call", "Swapped"),
        ("outbound", "Consult", "Swapped"),
    ]
    assert events_of(await ok(c, "OutboundCall", "Conference")) == [
        ("agent", "Regular-Call", "Conference"),
        ("outbound", "Regular-Call", "Conference"),
        ("outbound", "Consult", "Conference"),
    ]
    events = await ok(c, "OutboundCall", "Disconnect")
    assert events_of(events) == [
        ("agent", "Regular-Call", "ACW"),
        ("outbound", "Regular-Call", "DROPPED"),
        ("outbound", "Consult", "DROPPED"),
    ]
    assert all(
        e["message"]["call"]["User"]["loginName"] == "agent1"  # type: ignore[index]
        for e in events
        if e["topic"] == "OutboundCall"
    )
    assert rows(events)[-1][:2] == ("SetAgentState", "AfterCallWork")
