"""StreamsBackend without a browser: liveness on a manual clock, the bridge protocol's edges, and
the mapping of Streams snapshots (previous status, ended contacts, topics, what is left out)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from ctibridge.actions import BackendError, Dial, Endpoint, Login, Logout, SetState
from ctibridge.backends.streams import BRIDGE_UNAVAILABLE, BridgeLink, StreamsBackend, wire
from ctibridge.backends.streams.mapping import SnapshotMapper
from ctibridge.clock import ManualClock
from ctibridge.config import BridgeConfig
from ctibridge.model import AgentInfo, AgentState

T = 1_700_000_000_000
STATES = [
    {"name": "Available", "type": "routable"},
    {"name": "Break", "type": "not_routable"},
    {"name": "Offline", "type": "offline"},
]


class FakeBridge:
    """The hub's end of one bridge socket."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.link = BridgeLink(self._send, self._close)

    async def _send(self, text: str) -> None:
        self.sent.append(msgspec.json.decode(text))

    async def _close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def snapshot(availability: str = "Available", contacts: list[Any] | None = None) -> str:
    return msgspec.json.encode(
        {
            "type": "snapshot",
            "snapshot": {
                "state": {"name": availability, "type": "routable"},
                "availability": {"state": availability, "timeStamp": T},
                "contacts": contacts or [],
                "snapshotTimestamp": T,
                "configuration": {"username": "agent1"},  # the CCP's user is the agent
            },
        }
    ).decode()


def result(command_id: int, error: str | None = None) -> str:
    return msgspec.json.encode({"type": "result", "id": command_id, "error": error}).decode()


def directory() -> str:
    return msgspec.json.encode(
        {"type": "directory", "states": STATES, "queues": [{"name": "Sales"}], "endpoints": []}
    ).decode()


async def started(**config: Any) -> tuple[StreamsBackend, ManualClock, list[Any], list[str]]:
    clock = ManualClock()
    backend = StreamsBackend(clock, BridgeConfig(**config), ["agent1"])
    reported: list[Any] = []
    notices: list[str] = []
    await backend.start(lambda login, snap: reported.append(snap))
    backend.bind_notice(notices.append)
    return backend, clock, reported, notices


async def test_a_silent_bridge_is_gone_after_the_timeout() -> None:
    backend, clock, reported, notices = await started(heartbeat_seconds=5, timeout_seconds=15)
    bridge = FakeBridge()
    backend.attach("agent1", bridge.link)
    backend.receive("agent1", bridge.link, directory())
    backend.receive("agent1", bridge.link, snapshot())
    assert backend.alive("agent1") and reported[-1].logged_in
    clock.advance(10)
    backend.receive("agent1", bridge.link, '{"type":"heartbeat"}')
    clock.advance(15)  # 15 s since the heartbeat: still trusted
    assert backend.alive("agent1") and notices == []
    clock.advance(5)
    await asyncio.sleep(0)
    assert not backend.alive("agent1")
    assert notices == ["agent1"]
    assert bridge.closed == (4408, "no heartbeat")
    # the last known snapshot stays; commands fail until a bridge is back
    assert backend.snapshot("agent1").state.label == "Available"
    with pytest.raises(BackendError) as err:
        await backend.execute(
            "agent1", SetState(state=AgentState("Break", "Break", "not_routable"))
        )
    assert err.value.code == BRIDGE_UNAVAILABLE


async def test_results_resolve_commands_and_errors_carry_the_streams_message() -> None:
    backend, _, _, _ = await started()
    bridge = FakeBridge()
    backend.attach("agent1", bridge.link)
    backend.receive("agent1", bridge.link, directory())
    backend.receive("agent1", bridge.link, snapshot())
    brk = AgentState("Break", "Break", "not_routable")
    task = asyncio.create_task(backend.execute("agent1", SetState(state=brk)))
    await asyncio.sleep(0)
    command = bridge.sent[-1]
    assert command == {
        "type": "command",
        "id": command["id"],
        "action": {
            "type": "SetState",
            "state": {"label": "Break", "code": "Break", "type": "not_routable"},
        },
    }
    backend.receive(
        "agent1",
        bridge.link,
        result(command["id"], "AccessDeniedException: no"),
    )
    with pytest.raises(BackendError) as err:
        await task
    assert err.value.code == "AccessDeniedException: no"
    task = asyncio.create_task(backend.execute("agent1", SetState(state=brk)))
    await asyncio.sleep(0)
    backend.receive("agent1", bridge.link, result(bridge.sent[-1]["id"]))
    await task


async def test_login_and_logout_are_state_changes_in_the_ccp() -> None:
    backend, _, _, _ = await started()
    bridge = FakeBridge()
    backend.attach("agent1", bridge.link)
    backend.receive("agent1", bridge.link, directory())
    backend.receive("agent1", bridge.link, snapshot("Break"))
    for action, wanted in ((Logout(), "Offline"), (Login(), "Break")):
        task = asyncio.create_task(backend.execute("agent1", action))
        await asyncio.sleep(0)
        assert bridge.sent[-1]["action"]["state"]["label"] == wanted
        backend.receive("agent1", bridge.link, result(bridge.sent[-1]["id"]))
        await task
        if wanted == "Offline":
            backend.receive("agent1", bridge.link, snapshot("Offline"))
            assert backend.snapshot("agent1").logged_in is False


async def test_malformed_and_stale_messages_are_ignored() -> None:
    backend, _, reported, _ = await started()
    old, new = FakeBridge(), FakeBridge()
    backend.attach("agent1", old.link)
    backend.attach("agent1", new.link)
    await asyncio.sleep(0)
    assert old.closed == (4409, "replaced by a newer bridge")
    backend.receive("agent1", new.link, "not json")
    backend.receive("agent1", new.link, '{"type":"snapshot","snapshot":{}}')
    backend.receive("agent1", old.link, snapshot("Break"))  # the replaced bridge
    assert reported == []
    backend.receive("agent1", new.link, snapshot())
    assert len(reported) == 1
    backend.detach("agent1", old.link)  # a replaced bridge's socket closing changes nothing
    assert backend.alive("agent1")
    backend.detach("agent1", new.link)
    assert not backend.alive("agent1")


def leg(
    cid: str, type_: str, state: str, initial: bool = False, ts: int = T, number: str | None = None
) -> dict[str, Any]:
    endpoint = {"type": "phone_number", "phoneNumber": number} if number else None
    return {
        "connectionId": cid,
        "type": type_,
        "initial": initial,
        "state": {"type": state, "timestamp": ts},
        "endpoint": endpoint,
    }


def contact(cid: str, state: str, legs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "contactId": cid,
        "type": "voice",
        "state": {"type": state, "timestamp": T},
        "connections": legs,
        **extra,
    }


def raw(contacts: list[dict[str, Any]], next_state: str | None = None) -> wire.StreamsSnapshot:
    data = {
        "state": {"name": "Busy", "type": "system"},
        "availability": {"state": "Available", "timeStamp": T},
        "contacts": contacts,
        "snapshotTimestamp": T,
        "nextState": {"name": next_state, "type": "not_routable"} if next_state else None,
    }
    return msgspec.convert(data, wire.StreamsSnapshot)


INFO = AgentInfo(login="agent1", name="Agent One")
KNOWN = [AgentState("Available", "Available", "routable")]


def test_mapping_tracks_previous_status_and_normalises_ended_contacts() -> None:
    m = SnapshotMapper()
    ringing = m.map(
        raw(
            [
                contact(
                    "c1",
                    "connecting",
                    [
                        leg("a", "agent", "connecting"),
                        leg("k", "inbound", "connected", True, number="+1555"),
                    ],
                )
            ]
        ),
        INFO,
        KNOWN,
    )
    c = ringing.contacts[0]
    assert (c.kind, c.topic, c.ani) == ("inbound", "InboundCall", "+1555")
    assert [(x.role, x.status, x.previous_status) for x in c.connections] == [
        ("agent", "connecting", None), ("customer", "connected", None),
    ]  # fmt: skip
    held = m.map(
        raw(
            [
                contact(
                    "c1",
                    "connected",
                    [
                        leg("k", "inbound", "hold", True),
                        leg("a", "agent", "connected"),
                        leg("t", "outbound", "connecting"),
                    ],
                )
            ]
        ),
        INFO,
        KNOWN,
    )
    assert [(x.role, x.status, x.previous_status) for x in held.contacts[0].connections] == [
        ("agent", "connected", "connecting"),
        ("customer", "hold", "connected"),
        ("third_party", "connecting", None),
    ]  # fmt: skip
    ended = m.map(
        raw(
            [
                contact(
                    "c1",
                    "ended",
                    [
                        leg("a", "agent", "connected"),
                        leg("k", "inbound", "hold", True),
                        leg("t", "outbound", "connected"),
                    ],
                )
            ],
            "Lunch",
        ),
        INFO,
        KNOWN,
    )
    e = ended.contacts[0]
    assert e.state == "acw" and ended.next_state == AgentState("Lunch", "Lunch", "not_routable")
    assert [(x.role, x.status, x.previous_status) for x in e.connections] == [
        ("agent", "disconnected", "connected"), ("customer", "disconnected", "hold"),
    ]  # fmt: skip


def test_the_customer_leg_is_named_by_its_contact_id_and_mapped_back_for_commands() -> None:
    """docs/protocol.md §4.1 connection roles: Streams' own id of the initial connection ("k")
    goes on the wire as the contact's id; a third party keeps its id; a command naming the
    contact's id reaches "k" again, and a contact gone is forgotten."""
    m = SnapshotMapper()
    legs = [
        leg("a", "agent", "connected"),
        leg("k", "inbound", "hold", True),
        leg("t", "outbound", "connected"),
    ]
    snap = m.map(raw([contact("c1", "connected", legs)]), INFO, KNOWN)
    assert [(x.role, x.connection_id) for x in snap.contacts[0].connections] == [
        ("agent", "a"), ("customer", "c1"), ("third_party", "t"),
    ]  # fmt: skip
    assert [m.streams_leg("c1", x) for x in ("c1", "t", "a")] == ["k", "t", "a"]
    m.map(raw([]), INFO, KNOWN)
    assert m.streams_leg("c1", "c1") == "c1"


def test_mapping_leaves_out_chats_and_monitoring_and_files_dials_under_their_topic() -> None:
    m = SnapshotMapper()
    m.pending_topic = "InboundCall"
    snap = m.map(
        raw([
            contact("chat", "connected", [leg("a1", "agent", "connected")], type="chat"),
            contact("out", "connecting", [
                leg("a2", "agent", "connecting"),
                leg("k2", "outbound", "connecting", True),
                leg("m", "monitoring", "connected"),
            ]),
        ]),
        INFO,
        KNOWN,
    )  # fmt: skip
    (out,) = snap.contacts
    assert (out.contact_id, out.kind, out.topic) == ("out", "outbound", "InboundCall")
    assert [x.role for x in out.connections] == ["agent", "customer"]
    assert m.pending_topic is None
    again = m.map(
        raw(
            [
                contact(
                    "out",
                    "connected",
                    [leg("a2", "agent", "connected"), leg("k2", "outbound", "connected", True)],
                )
            ]
        ),
        INFO,
        KNOWN,
    )
    assert again.contacts[0].topic == "InboundCall"  # the topic stays with the contact


async def test_dial_forgets_its_topic_when_refused() -> None:
    backend, _, _, _ = await started()
    bridge = FakeBridge()
    backend.attach("agent1", bridge.link)
    backend.receive("agent1", bridge.link, snapshot())  # commands wait for the CCP's user
    task = asyncio.create_task(
        backend.execute(
            "agent1", Dial(endpoint=Endpoint("phone", "+15551234567"), topic="InboundCall")
        )
    )
    await asyncio.sleep(0)
    backend.receive("agent1", bridge.link, result(bridge.sent[-1]["id"], "x"))
    with pytest.raises(BackendError):
        await task
    assert backend._agents["agent1"].mapper.pending_topic is None
