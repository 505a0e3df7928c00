"""HybridBackend: the bridge while it is up, Connect's server side while it is down, and
reconciliation of the two views (a bridge socket faked; Connect stubbed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import boto3
import msgspec
import pytest
import pytest_asyncio
from botocore.stub import Stubber

from ctibridge import actions as act
from ctibridge.backends.connect import ConnectApi, ConnectBackend
from ctibridge.backends.hybrid import HybridBackend
from ctibridge.backends.streams import BRIDGE_UNAVAILABLE, BridgeLink, StreamsBackend
from ctibridge.clock import ManualClock
from ctibridge.config import BridgeConfig, ConnectConfig, RateLimit
from ctibridge.model import AgentState
from support.aes_records import (
    INSTANCE_ID,
    STATUSES,
    T0,
    contact,
    quick_connects,
    record,
    statuses,
    user_data,
)

CONFIG = ConnectConfig(
    region="us-east-1",
    instance_id=INSTANCE_ID,
    agents={"agent1": "u-1"},
    rate=RateLimit(rate=1000, burst=1000),
    reconcile_seconds=10,
)
BREAK = AgentState("Break", "Break", "not_routable")


class FakeBridge:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.link = BridgeLink(self._send, self._close)

    async def _send(self, text: str) -> None:
        self.sent.append(msgspec.json.decode(text))

    async def _close(self, code: int, reason: str) -> None:
        pass


def bridge_snapshot(state: str, contacts: list[Any] | None = None) -> str:
    return msgspec.json.encode(
        {
            "type": "snapshot",
            "snapshot": {
                "state": {"name": state, "type": "routable"},
                "availability": {"state": state, "timeStamp": 1},
                "contacts": contacts or [],
                "snapshotTimestamp": 1,
                "configuration": {"username": "agent1"},  # the CCP's user is the agent
            },
        }
    ).decode()


DIRECTORY = msgspec.json.encode(
    {
        "type": "directory",
        "states": [
            {"name": s["Name"], "type": s["Type"].lower().replace("custom", "not_routable")}
            for s in STATUSES
        ],
        "queues": [],
        "endpoints": [],
    }
).decode()


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        client = boto3.client("connect", region_name="us-east-1")
        self.stubber = Stubber(client)
        self.connect = ConnectBackend(self.clock, CONFIG, ConnectApi(client, CONFIG))
        self.streams = StreamsBackend(self.clock, BridgeConfig(), ["agent1"])
        self.hybrid = HybridBackend(self.clock, self.streams, self.connect, reconcile_seconds=10)
        self.reported: list[AgentState] = []
        self.notices: list[str] = []
        self.bridge = FakeBridge()

    def cud(self, entry: dict[str, Any]) -> None:
        self.stubber.add_response(
            "get_current_user_data",
            {"UserDataList": [entry]},
            {"InstanceId": INSTANCE_ID, "Filters": {"Agents": ["u-1"]}, "MaxResults": 100},
        )

    def connect_bridge(self, state: str = "Available") -> None:
        self.streams.attach("agent1", self.bridge.link)
        self.streams.receive("agent1", self.bridge.link, DIRECTORY)
        self.streams.receive("agent1", self.bridge.link, bridge_snapshot(state))

    async def answer(self) -> None:
        """The bridge answers the last command successfully."""
        for _ in range(10):
            await asyncio.sleep(0)
            if self.bridge.sent and self.bridge.sent[-1]["type"] == "command":
                break
        reply = {"type": "result", "id": self.bridge.sent[-1]["id"]}
        self.streams.receive("agent1", self.bridge.link, msgspec.json.encode(reply).decode())


@pytest_asyncio.fixture
async def world() -> AsyncIterator[World]:
    w = World()
    w.stubber.activate()
    statuses(w.stubber)
    w.cud(user_data("u-1", "Available"))
    quick_connects(w.stubber)
    await w.hybrid.prepare()
    w.hybrid.bind_notice(w.notices.append)
    await w.hybrid.start(lambda login, snap: w.reported.append(snap.state))
    yield w
    await w.hybrid.stop()
    w.stubber.assert_no_pending_responses()
    w.stubber.deactivate()


async def test_commands_go_to_the_bridge_while_it_is_up(world: World) -> None:
    world.connect_bridge()
    assert world.hybrid.snapshot("agent1").logged_in
    task = asyncio.create_task(
        world.hybrid.execute("agent1", act.Hold(contact_id="c", connection_id="k"))
    )
    await world.answer()
    await task
    assert world.bridge.sent[-1]["action"]["type"] == "Hold"
    assert (
        sum(world.connect.api.calls.values()) == 5
    )  # only the start-up reads (statuses, agents, queues, 2 quick connects)


async def test_without_the_bridge_the_server_side_does_what_it_can(world: World) -> None:
    world.stubber.add_response(
        "put_user_status",
        {},
        {"UserId": "u-1", "InstanceId": INSTANCE_ID, "AgentStatusId": "st-break"},
    )
    world.cud(user_data("u-1", "Break"))
    await world.hybrid.execute("agent1", act.SetState(state=BREAK))
    assert world.hybrid.snapshot("agent1").state == BREAK
    assert world.reported[-1] == BREAK  # the server's view reaches the hub
    world.stubber.add_response(
        "get_contact_attributes",
        {"Attributes": {}},
        {"InstanceId": INSTANCE_ID, "InitialContactId": "c-1"},
    )
    await world.connect.apply_record(
        record(
            "u-1", "STATE_CHANGE", "Break", [contact("c-1", "ENDED")], at=T0 + timedelta(seconds=1)
        )
    )
    world.stubber.add_response(
        "dismiss_user_contact", {}, {"UserId": "u-1", "InstanceId": INSTANCE_ID, "ContactId": "c-1"}
    )
    world.cud(user_data("u-1", "Break"))
    await world.hybrid.execute("agent1", act.Clear(contact_id="c-1"))
    assert world.hybrid.snapshot("agent1").contacts == ()
    with pytest.raises(act.BackendError) as err:
        await world.hybrid.execute("agent1", act.Accept(contact_id="c-2"))
    assert err.value.code == BRIDGE_UNAVAILABLE
    assert world.hybrid.stats["server_side_commands"] == 2


async def test_the_bridge_view_wins_while_up_and_the_server_view_takes_over_when_it_goes(
    world: World,
) -> None:
    world.connect_bridge("Available")
    world.reported.clear()
    # a server record while the bridge is up is not shown (it is only compared)
    await world.connect.apply_record(
        record("u-1", "STATE_CHANGE", "Lunch", at=T0 + timedelta(seconds=1))
    )
    assert world.reported == []
    assert world.hybrid.snapshot("agent1").state.label == "Available"
    world.streams.detach("agent1", world.bridge.link)
    assert world.notices == ["agent1"]
    assert world.reported[-1].label == "Lunch"
    assert world.hybrid.snapshot("agent1").state.label == "Lunch"


async def test_a_lasting_disagreement_is_logged_and_resynced(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.connect_bridge("Available")
    await world.connect.apply_record(
        record("u-1", "STATE_CHANGE", "Break", at=T0 + timedelta(seconds=1))
    )
    world.clock.advance(9)  # disagreeing, but not yet for long enough
    assert world.hybrid.stats["reconciliations"] == 0
    world.cud(user_data("u-1", "Break"))
    for _ in range(3):  # the resync the bridge got when it connected
        await asyncio.sleep(0)
    sent_before = len(world.bridge.sent)
    with caplog.at_level(logging.WARNING, logger="ctibridge.hybrid"):
        world.clock.advance(1)
        for _ in range(5):
            await asyncio.sleep(0)
    assert world.hybrid.stats["reconciliations"] == 1
    assert "disagree for 10.0 s" in caplog.text
    for _ in range(500):  # the server side is re-read too
        if world.connect.api.calls["GetCurrentUserData"] == 2 and not world.hybrid._tasks:
            break
        await asyncio.sleep(0.01)
    assert world.connect.api.calls["GetCurrentUserData"] == 2
    assert world.bridge.sent[sent_before:] == [{"type": "resync"}]
    assert world.hybrid.status()["disagreeing"] == ["agent1"]
    # the bridge confirms the server's view: they agree again
    world.streams.receive("agent1", world.bridge.link, bridge_snapshot("Break"))
    assert world.hybrid.status()["disagreeing"] == []


async def test_short_disagreements_are_not_reconciled(world: World) -> None:
    world.connect_bridge("Available")
    await world.connect.apply_record(
        record("u-1", "STATE_CHANGE", "Break", at=T0 + timedelta(seconds=1))
    )
    world.clock.advance(5)
    world.streams.receive(
        "agent1", world.bridge.link, bridge_snapshot("Break")
    )  # the CCP caught up
    world.clock.advance(30)
    assert world.hybrid.stats["reconciliations"] == 0
