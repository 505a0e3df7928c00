"""ConnectApi against botocore Stubbers: exact requests, one token bucket per API, retries of
throttled requests with the same parameters (nothing lost, nothing sent twice), 100-agent
batches for GetCurrentUserData."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from ctibridge.backends.connect import ConnectApi, ConnectError
from ctibridge.backends.connect.throttle import Backoff, TokenBucket
from ctibridge.config import ConnectConfig, RateLimit
from support.aes_records import INSTANCE_ID, STATUSES, searched, user_data


class FakeTime:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds


def api(client: Any, time: FakeTime | None = None, **config: Any) -> ConnectApi:
    time = time or FakeTime()
    cfg = ConnectConfig(instance_id=INSTANCE_ID, contact_flow_id="flow-1", **config)
    tokens = iter(f"token-{n}" for n in range(1, 100))
    return ConnectApi(
        client,
        cfg,
        now=time.now,
        sleep=time.sleep,
        backoff=Backoff(rng=__import__("random").Random(3)),
        client_token=lambda: next(tokens),
    )


def throttle(stubber: Stubber, method: str) -> None:
    stubber.add_client_error(
        method,
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=429,
    )


async def test_each_operation_sends_exactly_its_parameters(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "put_user_status",
        {},
        {"UserId": "u1", "InstanceId": INSTANCE_ID, "AgentStatusId": "st-break"},
    )
    stubber.add_response(
        "dismiss_user_contact", {}, {"UserId": "u1", "InstanceId": INSTANCE_ID, "ContactId": "c1"}
    )
    stubber.add_response("stop_contact", {}, {"ContactId": "c1", "InstanceId": INSTANCE_ID})
    stubber.add_response(
        "start_outbound_voice_contact",
        {"ContactId": "c2"},
        {
            "DestinationPhoneNumber": "+15551234567",
            "ContactFlowId": "flow-1",
            "InstanceId": INSTANCE_ID,
            "ClientToken": "token-1",
            "QueueId": "q-sales",
            "SourcePhoneNumber": "+18005550100",
        },
    )
    stubber.add_response(
        "get_contact_attributes",
        {"Attributes": {"lang": "fr"}},
        {"InstanceId": INSTANCE_ID, "InitialContactId": "c2"},
    )
    a = api(client, source_phone_number="+18005550100")
    await a.put_user_status("u1", "st-break")
    await a.dismiss_user_contact("u1", "c1")
    await a.stop_contact("c1")
    assert await a.start_outbound_voice_contact("+15551234567", queue_id="q-sales") == "c2"
    assert await a.get_contact_attributes("c2") == {"lang": "fr"}


async def test_a_throttled_request_is_retried_unchanged(stubbed: Any) -> None:
    client, stubber = stubbed
    params = {"UserId": "u1", "InstanceId": INSTANCE_ID, "AgentStatusId": "st-break"}
    throttle(stubber, "put_user_status")
    throttle(stubber, "put_user_status")
    stubber.add_response("put_user_status", {}, params)
    time = FakeTime()
    a = api(client, time)
    await a.put_user_status("u1", "st-break")
    assert a.calls["PutUserStatus"] == 3 and a.throttled["PutUserStatus"] == 2
    # jittered backoff: within [0, 0.2) then [0, 0.4)
    assert len(time.sleeps) == 2 and 0 <= time.sleeps[0] < 0.2 and 0 <= time.sleeps[1] < 0.4


async def test_an_outbound_call_retried_after_throttling_keeps_its_client_token(
    stubbed: Any,
) -> None:
    client, stubber = stubbed
    expected = {
        "DestinationPhoneNumber": "+15551234567",
        "ContactFlowId": "flow-1",
        "InstanceId": INSTANCE_ID,
        "ClientToken": "token-1",
    }
    stubber.add_client_error(
        "start_outbound_voice_contact",
        service_error_code="TooManyRequestsException",
        http_status_code=429,
        expected_params=expected,
    )
    stubber.add_response("start_outbound_voice_contact", {"ContactId": "c9"}, expected)
    assert await api(client).start_outbound_voice_contact("+15551234567") == "c9"


async def test_giving_up_after_max_attempts_and_other_errors_are_not_retried(stubbed: Any) -> None:
    client, stubber = stubbed
    for _ in range(3):
        throttle(stubber, "stop_contact")
    stubber.add_client_error(
        "stop_contact",
        service_error_code="InvalidRequestException",
        service_message="Contact is not active",
        http_status_code=400,
    )
    a = api(client, max_attempts=3)
    with pytest.raises(ConnectError) as err:
        await a.stop_contact("c1")
    assert err.value.code.startswith("ThrottlingException")
    with pytest.raises(ConnectError) as err:
        await a.stop_contact("c1")
    assert err.value.code == "InvalidRequestException: Contact is not active"
    assert a.calls["StopContact"] == 4


async def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(2.0, 5, now=time.now, sleep=time.sleep)
    for _ in range(7):
        await bucket.take()
    assert time.sleeps == [0.5, 0.5]
    time.t += 10  # idle: the bucket refills to the burst, not beyond
    for _ in range(5):
        await bucket.take()
    assert time.sleeps == [0.5, 0.5]
    await bucket.take()
    assert time.sleeps == [0.5, 0.5, 0.5]


async def test_each_api_has_its_own_bucket_and_limits_are_configurable(stubbed: Any) -> None:
    client, stubber = stubbed
    time = FakeTime()
    a = api(client, time, rates={"PutUserStatus": RateLimit(rate=1, burst=1)})
    for method in ("put_user_status", "stop_contact", "stop_contact", "put_user_status"):
        stubber.add_response(method, {})
    await a.put_user_status("u1", "s")
    await a.stop_contact("c")
    await a.stop_contact("c")
    assert time.sleeps == []  # StopContact's own bucket (burst 5) is untouched by PutUserStatus
    await a.put_user_status("u1", "s")
    assert time.sleeps == [1.0]


async def test_current_user_data_for_250_agents_is_three_batches_with_pagination(
    stubbed: Any,
) -> None:
    client, stubber = stubbed
    users = [f"user-{n:03d}" for n in range(250)]
    for start, size in ((0, 100), (100, 100), (200, 50)):
        chunk = users[start : start + size]
        base = {"InstanceId": INSTANCE_ID, "Filters": {"Agents": chunk}, "MaxResults": 100}
        half = size // 2
        stubber.add_response(
            "get_current_user_data",
            {
                "UserDataList": [user_data(u, "Available") for u in chunk[:half]],
                "NextToken": f"n{start}",
            },
            base,
        )
        stubber.add_response(
            "get_current_user_data",
            {"UserDataList": [user_data(u, "Available") for u in chunk[half:]]},
            {**base, "NextToken": f"n{start}"},
        )
    entries = await api(client, rate=RateLimit(rate=100, burst=10)).get_current_user_data(users)
    assert [e["User"]["Id"] for e in entries] == users


async def test_agent_statuses_are_the_enabled_ones_across_pages(stubbed: Any) -> None:
    client, stubber = stubbed
    base = {"InstanceId": INSTANCE_ID, "MaxResults": 100}
    # an instance keeps statuses it disabled; they must not be offered to the apps
    retired = searched([{**STATUSES[1], "Id": "st-old", "Name": "Training"}], state="DISABLED")
    stubber.add_response(
        "search_agent_statuses",
        {"AgentStatuses": searched(STATUSES[:2]) + retired, "NextToken": "p2"},
        base,
    )
    stubber.add_response(
        "search_agent_statuses",
        {"AgentStatuses": searched(STATUSES[2:])},
        {**base, "NextToken": "p2"},
    )
    found = await api(client).list_agent_statuses()
    assert [(s["Id"], s["Name"], s["Type"]) for s in found] == [
        ("st-available", "Available", "ROUTABLE"),
        ("st-break", "Break", "CUSTOM"),
        ("st-lunch", "Lunch", "CUSTOM"),
        ("st-offline", "Offline", "OFFLINE"),
    ]


async def test_a_quota_limit_fails_at_once_and_is_not_retried(stubbed: Any) -> None:
    client, stubber = stubbed
    time = FakeTime()
    stubber.add_client_error(
        "start_outbound_voice_contact",
        service_error_code="LimitExceededException",
        service_message="The concurrent calls quota is reached",
        http_status_code=400,
    )
    connect = api(client, time)
    with pytest.raises(ConnectError) as failed:
        await connect.start_outbound_voice_contact("+15551234567")
    assert failed.value.code == "LimitExceededException: The concurrent calls quota is reached"
    assert connect.calls["StartOutboundVoiceContact"] == 1
    assert connect.throttled["StartOutboundVoiceContact"] == 0
    assert time.sleeps == []
    stubber.assert_no_pending_responses()
