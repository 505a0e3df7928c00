"""ConnectBackend with Stubbers: the verbs Connect has server-side (exact requests), the
documented failure for the others, and Agent Event Stream records mapped to snapshots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from botocore.stub import ANY, Stubber

from ctibridge import actions as act
from ctibridge.backends.connect import REQUIRES_BRIDGE, ConnectApi, ConnectBackend
from ctibridge.clock import ManualClock
from ctibridge.config import ConnectConfig, RateLimit
from ctibridge.model import AgentState
from support.aes_records import (
    INSTANCE_ID,
    STATUSES,
    T0,
    contact,
    quick_connects,
    record,
    searched,
    statuses,
    user_data,
)

FAST = RateLimit(rate=1000, burst=1000)
CONFIG = ConnectConfig(
    region="us-east-1",
    instance_id=INSTANCE_ID,
    contact_flow_id="flow-out",
    outbound_queue_id="q-basic",
    agents={
        "agent1": "u-1",
        "agent2": "arn:aws:connect:us-east-1:111122223333:instance/x/agent/u-2",
    },
    rate=FAST,
)
BREAK = AgentState("Break", "Break", "not_routable")


def cud(stubber: Stubber, users: list[str], entries: list[dict[str, Any]]) -> None:
    stubber.add_response(
        "get_current_user_data",
        {"UserDataList": entries},
        {"InstanceId": INSTANCE_ID, "Filters": {"Agents": users}, "MaxResults": 100},
    )


def attributes(stubber: Stubber, contact_id: str, attrs: dict[str, str] | None = None) -> None:
    stubber.add_response(
        "get_contact_attributes",
        {"Attributes": attrs or {}},
        {"InstanceId": INSTANCE_ID, "InitialContactId": contact_id},
    )


async def started(
    client: Any, stubber: Stubber, config: ConnectConfig = CONFIG
) -> tuple[ConnectBackend, list[Any]]:
    statuses(stubber)
    users = list(config.user_ids.values())
    cud(stubber, users, [user_data(u, "Available") for u in users])
    quick_connects(stubber)
    backend = ConnectBackend(ManualClock(), config, ConnectApi(client, config))
    reported: list[Any] = []
    await backend.prepare()
    await backend.start(lambda login, snap: reported.append((login, snap)))
    return backend, reported


def legs(backend: ConnectBackend, login: str = "agent1") -> list[tuple[Any, ...]]:
    snap = backend.snapshot(login)
    return [
        (c.state, [(x.role, x.type, x.status, x.previous_status) for x in c.connections])
        for c in snap.contacts
    ]


async def test_start_reads_statuses_and_every_agent(stubbed: Any) -> None:
    backend, reported = await started(*stubbed)
    assert [(s.label, s.type) for s in backend.directory("agent1").states] == [
        ("Available", "routable"),
        ("Break", "not_routable"),
        ("Lunch", "not_routable"),
        ("Offline", "offline"),
    ]
    # read before the hub starts (prepare), so the hub starts from the truth
    snaps = [backend.snapshot(login) for login in backend.logins()]
    assert [(s.info.login, s.logged_in, s.state.label) for s in snaps] == [
        ("agent1", True, "Available"),
        ("agent2", True, "Available"),
    ]
    assert reported == []


async def test_aes_records_become_snapshots(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    attributes(stubber, "c-1", {"lang": "fr"})
    t = T0 + timedelta(seconds=10)
    await backend.apply_record(
        record("u-1", "STATE_CHANGE", "Available", [contact("c-1", "CONNECTING", since=t)], at=t)
    )
    snap = backend.snapshot("agent1")
    assert snap.contacts[0].attributes == (("lang", "fr"),)
    assert snap.contacts[0].queue == "BasicQueue" and snap.info.name == "Agent u-1"
    assert legs(backend) == [
        (
            "live",
            [("agent", "agent", "connecting", None), ("customer", "inbound", "connected", None)],
        )
    ]
    for n, (state, expected) in enumerate(
        [
            (
                "CONNECTED",
                [
                    ("agent", "agent", "connected", "connecting"),
                    ("customer", "inbound", "connected", None),
                ],
            ),
            (
                "CONNECTED_ONHOLD",
                [
                    ("agent", "agent", "connected", "connecting"),
                    ("customer", "inbound", "hold", "connected"),
                ],
            ),
            (
                "ENDED",
                [
                    ("agent", "agent", "disconnected", "connected"),
                    ("customer", "inbound", "disconnected", "hold"),
                ],
            ),
        ],
        start=1,
    ):
        at = t + timedelta(seconds=n)
        await backend.apply_record(
            record(
                "u-1",
                "STATE_CHANGE",
                "Available",
                [contact("c-1", state, since=at)],
                at=at,
                next_status="Lunch",
            )
        )
        assert legs(backend)[0][1] == expected
    assert legs(backend)[0][0] == "acw"  # ENDED = after-call work
    assert backend.snapshot("agent1").next_state == AgentState("Lunch", "Lunch", "not_routable")
    # a heartbeat repeats the truth; logout and login
    await backend.apply_record(
        record("u-1", "HEART_BEAT", "Available", at=t + timedelta(seconds=20))
    )
    assert backend.snapshot("agent1").contacts == ()
    await backend.apply_record(record("u-1", "LOGOUT", "Offline", at=t + timedelta(seconds=30)))
    assert backend.snapshot("agent1").logged_in is False
    await backend.apply_record(record("u-1", "LOGIN", "Available", at=t + timedelta(seconds=40)))
    assert backend.snapshot("agent1").logged_in is True


async def test_duplicate_and_out_of_order_records_are_dropped(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    newer = record("u-1", "STATE_CHANGE", "Break", at=T0 + timedelta(seconds=5))
    older = record("u-1", "STATE_CHANGE", "Lunch", at=T0 + timedelta(seconds=4))
    await backend.apply_record(newer)
    await backend.apply_record(newer)  # Kinesis delivers at least once
    await backend.apply_record(older)
    assert backend.snapshot("agent1").state.label == "Break"
    assert backend.stats["duplicates"] == 1 and backend.stats["out_of_order"] == 1
    # an unknown agent's record is counted, not applied
    await backend.apply_record(record("u-999", at=T0 + timedelta(seconds=6)))
    assert backend.stats["unknown_agent"] == 1


async def test_server_side_verbs_send_exact_requests_then_resync(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    stubber.add_response(
        "put_user_status",
        {},
        {"UserId": "u-1", "InstanceId": INSTANCE_ID, "AgentStatusId": "st-break"},
    )
    cud(stubber, ["u-1"], [user_data("u-1", "Break")])
    await backend.execute("agent1", act.SetState(state=BREAK))
    assert backend.snapshot("agent1").state.label == "Break"
    stubber.add_response(
        "put_user_status",
        {},
        {"UserId": "u-2", "InstanceId": INSTANCE_ID, "AgentStatusId": "st-offline"},
    )
    cud(stubber, ["u-2"], [user_data("u-2", "Offline")])
    await backend.execute("agent2", act.Logout())
    assert backend.snapshot("agent2").logged_in is False
    # a call: ENDED, then cleared with DismissUserContact
    attributes(stubber, "c-7")
    await backend.apply_record(
        record(
            "u-1",
            "STATE_CHANGE",
            "Break",
            [contact("c-7", "CONNECTED")],
            at=T0 + timedelta(seconds=1),
        )
    )
    stubber.add_response("stop_contact", {}, {"ContactId": "c-7", "InstanceId": INSTANCE_ID})
    cud(stubber, ["u-1"], [user_data("u-1", "Break", [("c-7", "ENDED", "INBOUND")])])
    c = backend.snapshot("agent1").contacts[0]
    await backend.execute(
        "agent1", act.Hangup(contact_id="c-7", connection_id=c.connections[0].connection_id)
    )
    assert legs(backend)[0][0] == "acw"
    stubber.add_response(
        "dismiss_user_contact", {}, {"UserId": "u-1", "InstanceId": INSTANCE_ID, "ContactId": "c-7"}
    )
    cud(stubber, ["u-1"], [user_data("u-1", "Break")])
    await backend.execute("agent1", act.Clear(contact_id="c-7"))
    assert backend.snapshot("agent1").contacts == ()


async def test_make_call_is_a_flow_routed_outbound_contact(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    await backend.apply_record(record("u-1", at=T0 + timedelta(seconds=1)))  # learns the queues
    stubber.add_response(
        "start_outbound_voice_contact",
        {"ContactId": "c-out"},
        {
            "DestinationPhoneNumber": "+15551234567",
            "ContactFlowId": "flow-out",
            "InstanceId": INSTANCE_ID,
            "ClientToken": ANY,
            "QueueId": "q-sales",
        },
    )
    # Connect dials the customer through the flow: the agent has no contact yet
    cud(stubber, ["u-1"], [user_data("u-1", "Available")])
    dial = act.Dial(
        endpoint=act.Endpoint("phone", "+15551234567"), topic="InboundCall", queue="Sales"
    )
    await backend.execute("agent1", dial)
    c = backend.snapshot("agent1").contacts[0]
    # DNIS is the dialled number of an outbound contact (§4.1); the caller id is not known
    assert (c.contact_id, c.kind, c.topic, c.ani, c.dnis) == (
        "c-out",
        "outbound",
        "InboundCall",
        None,
        "+15551234567",
    )
    assert [(x.role, x.type, x.status) for x in c.connections] == [
        ("agent", "agent", "connecting"),
        ("customer", "outbound", "connecting"),
    ]
    # the customer answered, the flow queued the call: it reaches the agent like an inbound
    # call, the customer already connected
    attributes(stubber, "c-out")
    t = T0 + timedelta(seconds=5)
    await backend.apply_record(
        record("u-1", contacts=[contact("c-out", "CONNECTING", method="API", since=t)], at=t)
    )
    c = backend.snapshot("agent1").contacts[0]
    assert (c.kind, c.topic) == ("outbound", "InboundCall")
    assert [(x.role, x.status, x.previous_status) for x in c.connections] == [
        ("agent", "connecting", None),
        ("customer", "connected", "connecting"),
    ]


async def test_a_placed_call_never_answered_is_forgotten(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    stubber.add_response("start_outbound_voice_contact", {"ContactId": "c-out"}, None)
    cud(stubber, ["u-1"], [user_data("u-1", "Available")])
    dial = act.Dial(endpoint=act.Endpoint("phone", "+15551234567"), topic="OutboundCall")
    await backend.execute("agent1", dial)
    assert [c.contact_id for c in backend.snapshot("agent1").contacts] == ["c-out"]
    backend._clock.advance(121)  # type: ignore[attr-defined]
    await backend.apply_record(record("u-1", "HEART_BEAT", at=T0 + timedelta(seconds=130)))
    assert backend.snapshot("agent1").contacts == ()


@pytest.mark.parametrize(
    "action",
    [
        act.Accept(contact_id="c"),
        act.Reject(contact_id="c"),
        act.Hold(contact_id="c", connection_id="c"),
        act.Resume(contact_id="c", connection_id="c"),
        act.Swap(contact_id="c"),
        act.Conference(contact_id="c"),
        act.AddParty(contact_id="c", endpoint=act.Endpoint("phone", "+15557654321")),
        act.Transfer(contact_id="c"),
        act.SendDigits(contact_id="c", connection_id="c", digits="1"),
        act.SetMute(muted=True),
        act.Login(),
        act.AcceptPreview(contact_id="c"),
        act.SkipPreview(contact_id="c"),
    ],
    ids=lambda a: type(a).__name__,
)
async def test_verbs_connect_lacks_server_side_fail_as_documented(
    stubbed: Any, action: act.Action
) -> None:
    backend, _ = await started(*stubbed)
    with pytest.raises(act.BackendError) as err:
        await backend.execute("agent1", action)
    assert err.value.code == REQUIRES_BRIDGE
    assert (
        sum(backend.api.calls[op] for op in ("PutUserStatus", "StopContact", "DismissUserContact"))
        == 0
    )


async def test_stop_contact_is_not_tried_where_connect_refuses_it(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    attributes(stubber, "c-0")
    await backend.apply_record(
        record(
            "u-1",
            contacts=[contact("c-t", "CONNECTED", method="TRANSFER", initial="c-0")],
            at=T0 + timedelta(seconds=1),
        )
    )
    agent_leg = backend.snapshot("agent1").contacts[0].connections[0]
    with pytest.raises(act.BackendError) as err:
        await backend.execute(
            "agent1", act.Hangup(contact_id="c-t", connection_id=agent_leg.connection_id)
        )
    assert err.value.code == f"{REQUIRES_BRIDGE} (StopContact refuses TRANSFER contacts)"
    assert backend.api.calls["StopContact"] == 0


async def test_agents_can_be_discovered_with_list_users(stubbed: Any) -> None:
    client, stubber = stubbed
    config = ConnectConfig(instance_id=INSTANCE_ID, discover_users=True, rate=FAST)
    statuses(stubber)
    stubber.add_response(
        "list_users",
        {
            "UserSummaryList": [
                {"Id": "u-a", "Arn": "arn:a", "Username": "alice"},
                {"Id": "u-b", "Arn": "arn:b", "Username": "bob"},
            ]
        },
        {"InstanceId": INSTANCE_ID, "MaxResults": 1000},
    )
    cud(stubber, ["u-a", "u-b"], [user_data("u-a", "Break"), user_data("u-b", "Offline")])
    quick_connects(stubber)
    backend = ConnectBackend(ManualClock(), config, ConnectApi(client, config))
    await backend.prepare()
    assert list(backend.logins()) == ["alice", "bob"]
    assert [backend.snapshot(x).state.label for x in ("alice", "bob")] == ["Break", "Offline"]


async def test_a_dialled_contact_is_forgotten_once_it_is_gone(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    await backend.apply_record(record("u-1", at=T0 + timedelta(seconds=1)))
    stubber.add_response("start_outbound_voice_contact", {"ContactId": "c-out"})
    cud(stubber, ["u-1"], [user_data("u-1", "Available")])  # not routed to the agent yet
    dial = act.Dial(endpoint=act.Endpoint("phone", "+15551234567"), topic="OutboundCall")
    await backend.execute("agent1", dial)
    dialled = backend._agents["agent1"].mapper.dialled
    assert list(dialled) == ["c-out"]  # kept until the contact shows up
    attributes(stubber, "c-out")
    await backend.apply_record(
        record(
            "u-1",
            contacts=[contact("c-out", "CONNECTED", method="API")],
            at=T0 + timedelta(seconds=2),
        )
    )
    assert backend.snapshot("agent1").contacts[0].topic == "OutboundCall"
    await backend.apply_record(record("u-1", at=T0 + timedelta(seconds=3)))
    assert dialled == {}


async def test_a_transferred_call_has_the_attributes_of_its_initial_contact(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    # GetContactAttributes wants the contact the call started as (AES InitialContactId)
    attributes(stubber, "c-first", {"lang": "fr"})
    await backend.apply_record(
        record(
            "u-1",
            contacts=[contact("c-2", "CONNECTING", method="TRANSFER", initial="c-first")],
            at=T0 + timedelta(seconds=1),
        )
    )
    assert backend.snapshot("agent1").contacts[0].attributes == (("lang", "fr"),)
    stubber.assert_no_pending_responses()


async def test_an_offered_callback_has_no_customer_leg_yet(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    attributes(stubber, "c-cb")
    # AES PENDING/INCOMING: a queued callback offered to the agent; Connect dials the customer
    # only once the agent accepts it
    await backend.apply_record(
        record(
            "u-1",
            contacts=[contact("c-cb", "PENDING", method="CALLBACK")],
            at=T0 + timedelta(seconds=1),
        )
    )
    assert legs(backend) == [("live", [("agent", "agent", "connecting", None)])]
    await backend.apply_record(
        record(
            "u-1",
            contacts=[contact("c-cb", "CONNECTED", method="CALLBACK")],
            at=T0 + timedelta(seconds=2),
        )
    )
    assert legs(backend) == [
        (
            "live",
            [
                ("agent", "agent", "connected", "connecting"),
                ("customer", "inbound", "connected", None),
            ],
        )
    ]


async def test_disabled_agent_statuses_are_not_offered(stubbed: Any) -> None:
    client, stubber = stubbed
    retired = searched([{**STATUSES[1], "Id": "st-old", "Name": "Training"}], state="DISABLED")
    statuses(stubber, retired)
    cud(stubber, ["u-1"], [user_data("u-1", "Available")])
    quick_connects(stubber)
    config = msgspec.structs.replace(CONFIG, agents={"agent1": "u-1"})
    backend = ConnectBackend(ManualClock(), config, ConnectApi(client, config))
    await backend.prepare()
    assert "Training" not in [s.label for s in backend.directory("agent1").states]


@pytest.mark.parametrize(
    ("code", "still_there", "outcome"),
    [
        # the ACW timeout (or the CCP's auto-clear) got there first: what was asked is done
        ("ResourceNotFoundException", False, None),
        # refused for a contact that is still there: a real failure
        ("InvalidRequestException", True, "InvalidRequestException: refused"),
    ],
)
async def test_a_refused_clear_is_judged_on_a_fresh_read(
    stubbed: Any, code: str, still_there: bool, outcome: str | None
) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    attributes(stubber, "c-9")
    await backend.apply_record(
        record("u-1", contacts=[contact("c-9", "ENDED")], at=T0 + timedelta(seconds=1))
    )
    stubber.add_client_error(
        "dismiss_user_contact", service_error_code=code, service_message="refused",
        http_status_code=400,
    )  # fmt: skip
    there = [("c-9", "ENDED", "INBOUND")] if still_there else []
    cud(stubber, ["u-1"], [user_data("u-1", "Available", there)])
    if outcome is None:
        cud(stubber, ["u-1"], [user_data("u-1", "Available")])  # the re-sync after the command
        await backend.execute("agent1", act.Clear(contact_id="c-9"))
        assert backend.snapshot("agent1").contacts == ()
    else:
        with pytest.raises(act.BackendError) as err:
            await backend.execute("agent1", act.Clear(contact_id="c-9"))
        assert err.value.code == outcome


async def test_a_stale_read_after_a_command_never_moves_the_state_back(stubbed: Any) -> None:
    client, stubber = stubbed
    backend, _ = await started(client, stubber)
    t1, t2 = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    # the event stream already says Break (since t1) and a call connected at t2
    attributes(stubber, "c-5")
    await backend.apply_record(record("u-1", "STATE_CHANGE", "Break", at=t1))
    await backend.apply_record(
        record("u-1", "STATE_CHANGE", "Break", [contact("c-5", "CONNECTED", since=t2)], at=t2)
    )
    # GetCurrentUserData, eventually consistent, still shows Available and the call ringing
    stubber.add_response(
        "dismiss_user_contact", {}, {"UserId": "u-1", "InstanceId": INSTANCE_ID, "ContactId": "x"}
    )
    cud(stubber, ["u-1"], [user_data("u-1", "Available", [("c-5", "CONNECTING", "INBOUND")])])
    await backend.execute("agent1", act.Clear(contact_id="x"))
    snap = backend.snapshot("agent1")
    assert snap.state.label == "Break"
    assert legs(backend) == [
        (
            "live",
            [
                ("agent", "agent", "connected", None),
                ("customer", "inbound", "connected", None),
            ],
        )
    ]


async def test_quick_connects_are_those_of_the_agents_queues(stubbed: Any) -> None:
    client, stubber = stubbed
    statuses(stubber)
    cud(stubber, ["u-1"], [user_data("u-1", "Available")])
    # the routing profile has BasicQueue only; the instance has more quick connects than it
    stubber.add_response(
        "list_routing_profile_queues",
        {"RoutingProfileQueueConfigSummaryList": [
            {"QueueId": "q-basic", "QueueArn": "arn:q-basic", "QueueName": "BasicQueue",
             "Priority": 1, "Delay": 0, "Channel": "VOICE"},
        ]},
        {"InstanceId": INSTANCE_ID, "RoutingProfileId": "rp-basic", "MaxResults": 100},
    )  # fmt: skip
    billing = {
        "Id": "qc-1",
        "Arn": "arn:qc-1",
        "Name": "Billing",
        "QuickConnectType": "PHONE_NUMBER",
    }
    stubber.add_response(
        "list_queue_quick_connects",
        {"QuickConnectSummaryList": [billing]},
        {"InstanceId": INSTANCE_ID, "QueueId": "q-basic", "MaxResults": 100},
    )
    config = msgspec.structs.replace(CONFIG, agents={"agent1": "u-1"})
    backend = ConnectBackend(ManualClock(), config, ConnectApi(client, config))
    await backend.prepare()
    assert backend.directory("agent1").quick_connects == ("Billing",)
    assert backend.api.calls["ListQuickConnects"] == 0
