"""The conform kit's own parts: the key-path diff, the stream checker on published samples, and
its independence from the code it checks."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import ctibridge.conform
from ctibridge.conform.checker import StreamChecker
from ctibridge.conform.diff import Mismatch, shape
from ctibridge.conform.schema import sample

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
PACKAGE = Path(ctibridge.conform.__file__).parent


def problems(checker: StreamChecker, *messages: dict[str, Any]) -> list[str]:
    found = [str(m) for message in messages for _, m in checker.feed(message)]
    return found + [str(m) for _, m in checker.flush()]


def test_a_mismatch_reads_as_the_issue_shows_it() -> None:
    m = Mismatch("message.call.ButtonStates.items.transfer", "Hide", "Enable",
                 "published Answer sample")  # fmt: skip
    assert str(m) == (
        'message.call.ButtonStates.items.transfer: expected "Hide", got "Enable" '
        "(published Answer sample)"
    )


def test_the_shipped_samples_are_the_published_copies() -> None:
    shipped = sorted(p.name for p in (PACKAGE / "samples" / "rev2").glob("*.json"))
    assert shipped == sorted(p.name for p in SAMPLES.glob("*.json"))
    for name in shipped:
        assert sample(name.removesuffix(".json")) == json.loads((SAMPLES / name).read_text())


def test_every_published_event_sample_passes_the_checker() -> None:
    """The samples are the contract: the checker finds nothing wrong with them (ClearContact's
    agent and customer events, a routable agent's SetAgentState, the Mute SetAgentState)."""
    checker = StreamChecker()
    clear = [sample("clear-contact-response-agent"), sample("clear-contact-response-inbound")]
    assert problems(checker, *clear) == []
    assert problems(checker, sample("agent-setagentstate-ready-event")) == []
    assert problems(checker, sample("call-statesync-response")) == []
    assert problems(checker, sample("agent-setagentstate-response-3")) == []


def test_shape_names_missing_extra_and_mistyped_keys() -> None:
    event = copy.deepcopy(sample("clear-contact-response-agent"))
    call = event["message"]["call"]
    call["Responsetext"] = call.pop("ResponseText")
    call["ResponseType"] = "0"
    found = [str(m) for m in shape(event, sample("clear-contact-response-agent"), "S")]
    assert found == [
        "message.call.ResponseType: expected a number, got a string (S)",
        "message.call.ResponseText: expected a string, got nothing (S)",
        'message.call.Responsetext: expected nothing, got "Success" (S)',
    ]


def test_a_seq_gap_is_reported() -> None:
    first, second = (dict(sample("agent-setagentstate-ready-event"), seq=n) for n in (7, 9))
    assert problems(StreamChecker(), first, second) == [
        "seq: expected 8, got 9 (§6 seq strictly increasing by 1)"
    ]


def test_buttons_are_checked_for_the_situation_the_stream_implies() -> None:
    """A two-party call (the published call StateSync), then an agent event that enables
    transfer: the published Answer sample's row says Hide."""
    checker = StreamChecker()
    assert problems(checker, sample("call-statesync-response")) == []
    sync = sample("call-statesync-response")["message"]["calls"]
    event = copy.deepcopy(sample("clear-contact-response-agent"))
    actual = event["message"]["call"]["ResponseActual"]
    actual |= {k: sync[0][k] for k in ("connectionId", "contactId", "status")}
    actual["previousStatus"] = "connecting"
    event["message"]["call"]["event"] = event["message"]["call"]["ResponseFields"]["CallState"] = (
        "connected"
    )
    items = event["message"]["call"]["ButtonStates"]["items"]
    for b in ("consult", "numberpad", "transfer"):
        items[b] = "Enable"
        actual["buttonStates"][b] = True
    assert problems(checker, event) == [
        'message.call.ButtonStates.items.transfer: expected "Hide", got "Enable" '
        "(published Answer sample)",
        "message.call.ResponseActual.buttonStates.transfer: expected false, got true "
        "(published Answer sample)",
    ]


def test_the_kit_decides_nothing_with_the_code_it_checks() -> None:
    """An independent oracle: the conform package imports only itself and the client."""
    imported = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                imported.add(("." * node.level) + (node.module or ""))
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [
                    a.name for a in node.names
                ]  # fmt: skip
                imported.update(n for n in names if n and n.startswith("ctibridge"))
    assert {i for i in imported if not i.startswith(".")} == set()
    assert {i for i in imported if i.startswith("..")} == {"..client"}


def _ringing(contact_id: str, connection_id: str, type_: str) -> dict[str, Any]:
    """The published incoming-call agent event, as ``type_`` leg ``connection_id`` ringing."""
    event = copy.deepcopy(sample("incoming-call-event-agent"))
    actual = event["message"]["call"]["ResponseActual"]
    actual |= {"contactId": contact_id, "connectionId": connection_id, "type": type_}
    return event


def test_a_customer_leg_not_named_by_the_contact_id_breaks_the_role_rule() -> None:
    """§4.1 connection roles: a contact seen from its first (ringing) event whose first non-agent
    leg has a connectionId other than the contactId is reported; the same stream with the
    customer leg named by the contactId is not (roles no longer depend on arrival order)."""
    rule = "§4.1 connection roles: the customer leg's connectionId is the contactId"
    broken = StreamChecker()
    found = problems(broken, _ringing("c9", "agent-leg", "agent"), _ringing("c9", "k9", "inbound"))
    assert f'message.call.ResponseActual.connectionId: expected "c9", got "k9" ({rule})' in found
    kept = StreamChecker()
    found = problems(kept, _ringing("c9", "agent-leg", "agent"), _ringing("c9", "c9", "inbound"))
    assert not [f for f in found if rule in f]
    assert kept.model.contacts["c9"].legs["c9"].role == "customer"
