"""The worlds the conformance suite runs in: the same scenarios, one backend each (harness.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from botocore.stub import ANY

from ctibridge.backends.sim import SimBackend
from ctibridge.backends.streams import StreamsBackend
from ctibridge.client import Client, Result
from ctibridge.clock import ManualClock, RealClock
from ctibridge.config import BridgeConfig
from ctibridge.conform.drivers import CUSTOMER, Driver, EndOfScenario, SimDriver
from ctibridge.hub import Hub
from ctibridge.settings import AuthSettings, Settings
from support import aes_records as aes
from support.fake_ccp import FakeCcp, fake_ccp
from support.harness import Message, Served, chromium, flush, open_bridge, wait_for

# no tokens: these tests are about the backends, not auth (tests/hub covers auth)
TEST_SETTINGS = Settings(auth=AuthSettings(insecure=True))

__all__ = ["CUSTOMER", "EndOfScenario"]


class World(Driver):
    """A hub with one backend, an app of ``agent1`` and the outside world's side of a call (a
    driver of ctibridge.conform: its scenarios run in every world)."""

    name = ""
    # subtopics Connect cannot carry out with this backend (they fail with ``unsupported_code``)
    unsupported: frozenset[str] = frozenset()
    unsupported_code = ""

    def __init__(self, served: Served, client: Client) -> None:
        super().__init__(client)
        self.served = served

    async def request(self, topic: str, subtopic: str, *data: Any) -> Result:
        """Send one request as the app (a world may first prepare what Connect will answer)."""
        await self.before(topic, subtopic, *data)
        return await self.client.request(topic, subtopic, *data)

    async def before(self, topic: str, subtopic: str, *data: Any) -> None:
        pass

    async def in_ccp(self, subtopic: str, data: Any = None) -> list[Message]:
        """The agent does ``subtopic`` in the CCP (for verbs the backend cannot carry out)."""
        raise EndOfScenario(f"{self.name} cannot see {subtopic} done in the CCP")


class SimWorld(SimDriver, World):
    """The embedded simulator, driven through the Simulator topic as `ctibridge conform`'s
    driven mode drives it (one copy: SimDriver)."""

    name = "sim"


# request subtopic -> the Streams client method (api_request) the bridge's call turns into
STREAMS_METHOD = {
    "Answer": "acceptContact",
    "Reject": "rejectContact",
    "Hold": "holdConnection",
    "Resume": "resumeConnection",
    "Disconnect": "destroyConnection",
    "ConsultDrop": "destroyConnection",
    "ClearContact": "clearContact",
    "Consult": "createAdditionalConnection",
    "Swap": "toggleActiveConnections",
    "Conference": "conferenceConnections",
    "NumberPad": "sendDigits",
    "UpdateState": "putAgentState",
    "MakeCall": "createOutboundContact",
    "Mute": "mute",
}


class StreamsWorld(World):
    """The real bridge page running the real Streams bundle against the fake CCP."""

    name = "streams"

    def __init__(
        self, served: Served, client: Client, backend: StreamsBackend, page: Any, ccp: FakeCcp
    ):
        super().__init__(served, client)
        self.backend = backend
        self.page = page
        self.ccp = ccp

    async def _ccp(self, script: str, arg: Any = None) -> list[Message]:
        """Run ``fakeCcp.<script>`` in the CCP frame; the events its agent update caused."""
        # a changed snapshot, not just one more (the hub's resync makes the bridge resend it)
        before = self.backend.snapshot("agent1")
        self.client.drain()
        await self.ccp.run(script, arg)
        await wait_for(
            lambda: self.backend.snapshot("agent1") != before, f"the snapshot after {script}"
        )
        return await flush(self.client)

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        return await self._ccp("incoming(a)", {"phoneNumber": phone, **extra})

    async def customer_hangup(self) -> list[Message]:
        return await self._ccp("customerHangup()")

    async def third_party_answer(self) -> list[Message]:
        return await self._ccp("thirdPartyAnswer()")

    async def third_party_hangup(self) -> list[Message]:
        return await self._ccp("thirdPartyHangup()")

    async def outbound_answer(self) -> list[Message]:
        return await self._ccp("outboundAnswer()")

    async def fail_next(self, subtopic: str) -> None:
        await self.ccp.fail_next(STREAMS_METHOD[subtopic])


@contextlib.asynccontextmanager
async def sim_world() -> AsyncIterator[World]:
    clock = ManualClock()
    hub = Hub(SimBackend(clock, seed=7, agents=2), clock, TEST_SETTINGS)
    async with Served(hub) as served:
        client = await Client.connect(served.url, "agent1")
        try:
            yield SimWorld(served, client)
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def streams_world(browser: Any = None) -> AsyncIterator[StreamsWorld]:
    clock = RealClock()
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(fake_ccp())
        backend = StreamsBackend(
            clock, BridgeConfig(), ["agent1", "agent2"], ccp_url=server.ccp_url, region="us-east-1"
        )
        hub = Hub(backend, clock, TEST_SETTINGS)
        served = await stack.enter_async_context(Served(hub))
        if browser is None:
            browser = await stack.enter_async_context(chromium())
        page = await open_bridge(browser, served.http, ccp_origin=server.origin)
        await wait_for(
            lambda: (
                backend.snapshot("agent1").logged_in and bool(backend.directory("agent1").states)
            ),
            "the bridge's first snapshot",
        )
        client = await Client.connect(served.url, "agent1")
        try:
            yield StreamsWorld(served, client, backend, page, FakeCcp(page, server))
        finally:
            await client.close()
            assert page.errors == [], page.errors
            await page.context.close()


# --- connect ----------------------------------------------------------------------------------


class FakeConnect:
    """Amazon Connect's side of agent1 (user u-1) for the connect world: the truth the stubbed
    GetCurrentUserData answers and the Agent Event Stream records a real CCP would cause."""

    def __init__(self) -> None:
        self.status = "Available"
        self.next: str | None = None
        self.logged_in = True
        self.contacts: list[list[str]] = []  # [contact id, state, initiation method]
        # placed with StartOutboundVoiceContact, the customer not answered yet: Connect shows
        # the agent nothing until its flow has connected the customer and queued the call
        self.placing: set[str] = set()
        self.t = 0
        self.ids = 0

    def tick(self) -> datetime:
        self.t += 1
        return aes.T0 + timedelta(seconds=self.t)

    def new_contact(self, state: str, method: str) -> str:
        self.ids += 1
        cid = f"c{self.ids:04d}-0000-4000-8000-000000000000"
        self.contacts.append([cid, state, method])
        return cid

    def set_contact(self, state: str) -> None:
        self.contacts[0][1] = state

    def set_status(self, name: str) -> None:
        if self.contacts:
            self.next = name  # Connect keeps it as the next status while on a contact
        else:
            self.status = name

    def clear(self) -> None:
        self.contacts.pop(0)
        if not self.contacts and self.next:
            self.status, self.next = self.next, None

    def routed(self) -> list[list[str]]:
        return [c for c in self.contacts if c[0] not in self.placing]

    def user_data(self) -> dict[str, Any]:
        return aes.user_data(
            "u-1", self.status, [(c[0], c[1], c[2]) for c in self.routed()], self.next, self.tick()
        )

    def record(self, event_type: str = "STATE_CHANGE") -> dict[str, Any]:
        at = self.tick()
        contacts = [
            aes.contact(cid, state, method=method, since=at) for cid, state, method in self.routed()
        ]
        return aes.record("u-1", event_type, self.status, contacts, at=at, next_status=self.next)


CONNECT_OPERATION = {
    "UpdateState": "put_user_status",
    "SetNotReady": "put_user_status",
    "Disconnect": "stop_contact",
    "ClearContact": "dismiss_user_contact",
    "MakeCall": "start_outbound_voice_contact",
    "Logout": "put_user_status",
}
CCP_STATE = {
    "Answer": "CONNECTED",
    "Hold": "CONNECTED_ONHOLD",
    "Resume": "CONNECTED",
    "Reject": "REJECTED",
}
STATUS_ID = {s["Name"]: s["Id"] for s in aes.STATUSES}


class ConnectWorld(World):
    """The connect backend over Stubbers: before each request the world queues exactly the
    requests the backend must make (asserting their parameters) with Connect's answers."""

    name = "connect"
    unsupported = frozenset(
        {"Answer", "Reject", "Hold", "Resume", "NumberPad", "Consult", "ExternalConsult", "Swap",
         "Conference", "Transfer", "QueueTransfer", "ConsultDrop", "Mute", "Unmute", "Login"}
    )  # fmt: skip
    unsupported_code = "requires streams bridge"

    def __init__(
        self, served: Served, client: Client, backend: Any, stubber: Any, fake: FakeConnect
    ):
        super().__init__(served, client)
        self.backend = backend
        self.stubber = stubber
        self.fake = fake
        self.failing: str | None = None

    def _resync(self) -> None:
        self.stubber.add_response(
            "get_current_user_data", {"UserDataList": [self.fake.user_data()]},
            {"InstanceId": aes.INSTANCE_ID, "Filters": {"Agents": ["u-1"]}, "MaxResults": 100},
        )  # fmt: skip

    def _attributes(self, contact_id: str) -> None:
        self.stubber.add_response(
            "get_contact_attributes", {"Attributes": {}},
            {"InstanceId": aes.INSTANCE_ID, "InitialContactId": contact_id},
        )  # fmt: skip

    async def before(self, topic: str, subtopic: str, *data: Any) -> None:
        operation = CONNECT_OPERATION.get(subtopic)
        if operation is None or subtopic in self.unsupported:
            return
        if self.failing == subtopic:
            self.failing = None
            self.stubber.add_client_error(
                operation, service_error_code="InternalServiceException",
                service_message="simulated failure", http_status_code=500,
            )  # fmt: skip
            return
        f = self.fake
        params: dict[str, Any] = {"InstanceId": aes.INSTANCE_ID}
        response: dict[str, Any] = {}
        if subtopic in ("UpdateState", "SetNotReady", "Logout"):
            name = {"Logout": "Offline", "SetNotReady": data and data[0].get("ReasonCodeId")}.get(
                subtopic, data and data[0].get("label")
            )
            if name not in STATUS_ID:  # refused by the backend before it asks Connect
                return
            params |= {"UserId": "u-1", "AgentStatusId": STATUS_ID[name]}
            f.set_status(str(name))
        elif subtopic == "Disconnect":
            params["ContactId"] = f.contacts[0][0]
            f.set_contact("ENDED")
        elif subtopic == "ClearContact":
            params |= {"UserId": "u-1", "ContactId": f.contacts[0][0]}
            f.clear()
        elif subtopic == "MakeCall":
            cid = f.new_contact("CONNECTING", "API")
            f.placing.add(cid)
            params |= {
                "DestinationPhoneNumber": data[0],
                "ContactFlowId": "flow-out",
                "ClientToken": ANY,
                "QueueId": "q-basic",
            }
            response = {"ContactId": cid}
        self.stubber.add_response(operation, response, params)
        self._resync()

    async def _aes(
        self, event_type: str = "STATE_CHANGE", new_contact: str | None = None
    ) -> list[Message]:
        self.client.drain()
        if new_contact is not None:
            self._attributes(new_contact)
        await self.backend.apply_record(self.fake.record(event_type))
        return await flush(self.client)

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        return await self._aes(new_contact=self.fake.new_contact("CONNECTING", "INBOUND"))

    async def customer_hangup(self) -> list[Message]:
        self.fake.set_contact("ENDED")
        return await self._aes()

    async def outbound_answer(self) -> list[Message]:
        # the customer answered; the flow queued the call and the agent took it
        cid = self.fake.contacts[0][0]
        self.fake.placing.discard(cid)
        self.fake.set_contact("CONNECTED")
        return await self._aes(new_contact=cid)

    async def fail_next(self, subtopic: str) -> None:
        self.failing = subtopic

    async def in_ccp(self, subtopic: str, data: Any = None) -> list[Message]:
        if subtopic in CCP_STATE:
            self.fake.set_contact(CCP_STATE[subtopic])
            return await self._aes()
        if subtopic == "Login":
            self.fake.status = "Available"
            return await self._aes("LOGIN")
        return await super().in_ccp(subtopic, data)


@contextlib.asynccontextmanager
async def connect_world() -> AsyncIterator[ConnectWorld]:
    import boto3
    from botocore.stub import Stubber

    from ctibridge.backends.connect import ConnectApi, ConnectBackend
    from ctibridge.config import ConnectConfig, RateLimit

    config = ConnectConfig(
        region="us-east-1", instance_id=aes.INSTANCE_ID, contact_flow_id="flow-out",
        outbound_queue_id="q-basic", agents={"agent1": "u-1", "agent2": "u-2"},
        rate=RateLimit(rate=1000, burst=1000),
    )  # fmt: skip
    client = boto3.client(
        "connect", region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    fake = FakeConnect()
    with Stubber(client) as stubber:
        aes.statuses(stubber)
        stubber.add_response(
            "get_current_user_data",
            {"UserDataList": [fake.user_data(), aes.user_data("u-2", "Available")]},
        )
        aes.quick_connects(stubber)
        clock = ManualClock()
        backend = ConnectBackend(clock, config, ConnectApi(client, config))
        hub = Hub(backend, clock, TEST_SETTINGS)
        async with Served(hub) as served:
            app = await Client.connect(served.url, "agent1")
            try:
                yield ConnectWorld(served, app, backend, stubber, fake)
            finally:
                await app.close()
        stubber.assert_no_pending_responses()
