"""Agent Event Stream records in the shape Connect publishes (the sample in Connect's admin guide,
"Sample agent event stream": AgentARN, CurrentAgentSnapshot{AgentStatus, NextAgentStatus,
Configuration{FirstName, LastName, RoutingProfile{...}, Username}, Contacts[...]}, EventId,
EventTimestamp, EventType, InstanceARN, PreviousAgentSnapshot, Version)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "111122223333"
INSTANCE_ID = "aaaaaaaa-bbbb-cccc-dddd-111111111111"
INSTANCE_ARN = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/{INSTANCE_ID}"
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
QUEUES = {"BasicQueue": f"{INSTANCE_ARN}/queue/q-basic", "Sales": f"{INSTANCE_ARN}/queue/q-sales"}
STATUSES = [
    {
        "Id": "st-available",
        "Arn": f"{INSTANCE_ARN}/agent-state/st-available",
        "Name": "Available",
        "Type": "ROUTABLE",
    },
    {
        "Id": "st-break",
        "Arn": f"{INSTANCE_ARN}/agent-state/st-break",
        "Name": "Break",
        "Type": "CUSTOM",
    },
    {
        "Id": "st-lunch",
        "Arn": f"{INSTANCE_ARN}/agent-state/st-lunch",
        "Name": "Lunch",
        "Type": "CUSTOM",
    },
    {
        "Id": "st-offline",
        "Arn": f"{INSTANCE_ARN}/agent-state/st-offline",
        "Name": "Offline",
        "Type": "OFFLINE",
    },
]
_ids = itertools.count(1)


def searched(statuses: list[dict[str, Any]], state: str = "ENABLED") -> list[dict[str, Any]]:
    """``STATUSES`` as SearchAgentStatuses returns them (with their State)."""
    return [
        {"AgentStatusId": s["Id"], "AgentStatusARN": s["Arn"], "Name": s["Name"],
         "Type": s["Type"], "State": state}
        for s in statuses
    ]  # fmt: skip


def statuses(stubber: Any, extra: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """What the backend reads of the agent statuses at start (``extra``: more, as searched)."""
    stubber.add_response(
        "search_agent_statuses",
        {"AgentStatuses": searched(STATUSES) + list(extra)},
        {"InstanceId": INSTANCE_ID, "MaxResults": 100},
    )


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def agent_arn(user: str) -> str:
    return f"{INSTANCE_ARN}/agent/{user}"


def status(name: str, since: datetime = T0) -> dict[str, Any]:
    s = next(x for x in STATUSES if x["Name"] == name)
    return {"ARN": s["Arn"], "Name": name, "StartTimestamp": iso(since)}


def contact(
    contact_id: str,
    state: str,
    *,
    method: str = "INBOUND",
    since: datetime = T0,
    queue: str = "BasicQueue",
    channel: str = "VOICE",
    initial: str | None = None,
) -> dict[str, Any]:
    return {
        "Channel": channel,
        "ConnectedToAgentTimestamp": iso(since) if state.startswith("CONNECTED") else None,
        "ContactId": contact_id,
        "InitialContactId": initial,
        "InitiationMethod": method,
        "Queue": {"ARN": QUEUES[queue], "Name": queue},
        "QueueTimestamp": iso(since - timedelta(seconds=5)),
        "State": state,
        "StateStartTimestamp": iso(since),
    }


def snapshot(
    user: str,
    status_name: str,
    contacts: Sequence[dict[str, Any]] = (),
    next_status: str | None = None,
    since: datetime = T0,
) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "AgentStatus": status(status_name, since),
        "Configuration": {
            "AgentHierarchyGroups": None,
            "FirstName": "Agent",
            "LastName": user,
            "RoutingProfile": {
                "ARN": f"{INSTANCE_ARN}/routing-profile/rp-basic",
                "Concurrency": [{"AvailableSlots": 1, "Channel": "VOICE", "MaximumSlots": 1}],
                "DefaultOutboundQueue": {
                    "ARN": QUEUES["BasicQueue"],
                    "Channels": ["VOICE"],
                    "Name": "BasicQueue",
                },
                "InboundQueues": [
                    {"ARN": arn, "Channels": ["VOICE"], "Name": name}
                    for name, arn in QUEUES.items()
                ],
                "Name": "Basic Routing Profile",
            },
            "Username": user,
        },
        "Contacts": list(contacts),
    }
    if next_status is not None:
        s = status(next_status)
        snap["NextAgentStatus"] = {
            "Name": next_status,
            "ARN": s["ARN"],
            "EnqueuedTimestamp": iso(since),
        }
    return snap


def record(
    user: str,
    event_type: str = "STATE_CHANGE",
    status_name: str = "Available",
    contacts: Sequence[dict[str, Any]] = (),
    *,
    at: datetime = T0,
    next_status: str | None = None,
    event_id: str | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "AWSAccountId": ACCOUNT,
        "AgentARN": agent_arn(user),
        "CurrentAgentSnapshot": snapshot(user, status_name, contacts, next_status, at),
        "EventId": event_id or f"e{next(_ids):06d}-0000-4000-8000-000000000000",
        "EventTimestamp": iso(at),
        "EventType": event_type,
        "InstanceARN": INSTANCE_ARN,
        "PreviousAgentSnapshot": previous,
        "Version": "2019-05-25",
    }


def encoded(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec).encode()


def user_data(
    user: str,
    status_name: str,
    contacts: Sequence[tuple[str, str, str]] = (),
    next_status: str | None = None,
    since: datetime = T0,
) -> dict[str, Any]:
    """A GetCurrentUserData entry; contacts as (id, AgentContactState, InitiationMethod)."""
    s = next(x for x in STATUSES if x["Name"] == status_name)
    entry: dict[str, Any] = {
        "User": {"Id": user, "Arn": agent_arn(user)},
        "RoutingProfile": {"Id": "rp-basic", "Arn": f"{INSTANCE_ARN}/routing-profile/rp-basic"},
        "Status": {"StatusStartTimestamp": since, "StatusArn": s["Arn"], "StatusName": status_name},
        "AvailableSlotsByChannel": {"VOICE": 0 if contacts else 1},
        "MaxSlotsByChannel": {"VOICE": 1},
        "ActiveSlotsByChannel": {"VOICE": len(contacts)},
        "Contacts": [
            {
                "ContactId": cid,
                "Channel": "VOICE",
                "InitiationMethod": method,
                "AgentContactState": state,
                "StateStartTimestamp": since,
                "Queue": {"Id": "q-basic", "Arn": QUEUES["BasicQueue"]},
            }
            for cid, state, method in contacts
        ],
    }
    if next_status:
        entry["NextStatus"] = next_status
    return entry


QUICK_CONNECTS = [
    {
        "Id": "qc-1",
        "Arn": f"{INSTANCE_ARN}/transfer-destination/qc-1",
        "Name": "Billing",
        "QuickConnectType": "PHONE_NUMBER",
    },
    {
        "Id": "qc-2",
        "Arn": f"{INSTANCE_ARN}/transfer-destination/qc-2",
        "Name": "Supervisor",
        "QuickConnectType": "USER",
    },
    {
        "Id": "qc-3",
        "Arn": f"{INSTANCE_ARN}/transfer-destination/qc-3",
        "Name": "Sales",
        "QuickConnectType": "QUEUE",
    },
]


def quick_connects(stubber: Any, profile: str = "rp-basic") -> None:
    """What the backend reads of the quick connects at start, after the agents' current data:
    the queues of the routing profile, and each queue's quick connects (Billing and Supervisor
    on BasicQueue; the Sales queue quick connect on both)."""
    stubber.add_response(
        "list_routing_profile_queues",
        {"RoutingProfileQueueConfigSummaryList": [
            {"QueueId": user_id, "QueueArn": arn, "QueueName": name, "Priority": 1, "Delay": 0,
             "Channel": "VOICE"}
            for name, arn in QUEUES.items() for user_id in [arn.rsplit("/", 1)[-1]]
        ]},
        {"InstanceId": INSTANCE_ID, "RoutingProfileId": profile, "MaxResults": 100},
    )  # fmt: skip
    for queue, listed in (("q-basic", QUICK_CONNECTS), ("q-sales", QUICK_CONNECTS[2:])):
        stubber.add_response(
            "list_queue_quick_connects",
            {"QuickConnectSummaryList": listed},
            {"InstanceId": INSTANCE_ID, "QueueId": queue, "MaxResults": 100},
        )


def stubbed_connect(users: Sequence[str]) -> tuple[Any, Any]:
    """A boto3 ``connect`` client behind an active Stubber, primed with what a ConnectBackend
    reads at start: the agent statuses, every user's current data (Available) and the quick
    connects.  Returns ``(client, stubber)``."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("connect", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    statuses(stubber)
    stubber.add_response(
        "get_current_user_data", {"UserDataList": [user_data(u, "Available") for u in users]}
    )
    quick_connects(stubber)
    return client, stubber
