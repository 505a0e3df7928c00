"""The Amazon Connect APIs the ``connect`` backend uses, each behind its own token bucket.

Every call goes through :meth:`ConnectApi.call`: take a token from the operation's bucket, run
the (blocking) boto3 call in a worker thread, retry throttling with jittered backoff, and turn
any other refusal into a :class:`ConnectError` whose ``code`` is Connect's ``Code: message``.
botocore's own retries are switched off for the client (see :func:`connect_client`) so that
this is the only retry, and its count is the one the quota sees.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ...config import ConnectConfig
from ...errors import BackendError
from .throttle import Backoff, Now, Sleep, TokenBucket, is_throttling

GET_CURRENT_USER_DATA_LIMIT = 100  # agents per GetCurrentUserData filter


def connect_client(config: ConnectConfig) -> Any:
    """A boto3 ``connect`` client for the configured region, without botocore's retries."""
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "region_name": config.region or None,
        "config": Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    }
    if config.endpoint_url:
        kwargs["endpoint_url"] = config.endpoint_url
    return boto3.client("connect", **kwargs)


class ConnectError(BackendError):
    """Amazon Connect refused a request (``code`` = ``"<Code>: <message>"``)."""

    def __init__(
        self, operation: str, error_code: str, message: str, *, throttled: bool = False
    ) -> None:
        code = f"{error_code}: {message}" if message else error_code
        super().__init__(code, throttled=throttled)
        self.operation = operation
        self.error_code = error_code


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


class ConnectApi:
    def __init__(
        self,
        client: Any,
        config: ConnectConfig,
        *,
        now: Now = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
        in_thread: bool = True,
        client_token: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.client = client
        self.config = config
        self.instance_id = config.instance_id
        self._now = now
        self._sleep = sleep
        self._backoff = backoff or Backoff()
        self._in_thread = in_thread
        self._client_token = client_token
        self._buckets: dict[str, TokenBucket] = {}
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def bucket(self, operation: str) -> TokenBucket:
        bucket = self._buckets.get(operation)
        if bucket is None:
            limit = self.config.limit(operation)
            bucket = TokenBucket(limit.rate, limit.burst, now=self._now, sleep=self._sleep)
            self._buckets[operation] = bucket
        return bucket

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One Connect request (the same ``params`` on every attempt)."""
        method = getattr(self.client, _snake(operation))
        bucket = self.bucket(operation)
        attempts = max(1, self.config.max_attempts)
        for attempt in range(attempts):
            await bucket.take()
            self.calls[operation] += 1
            try:
                if self._in_thread:
                    response = await asyncio.to_thread(method, **params)
                else:
                    response = method(**params)
                assert isinstance(response, dict)
                return response
            except ClientError as e:
                error = e.response.get("Error", {})
                code = str(error.get("Code", "ClientError"))
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if not is_throttling(code, status):
                    raise ConnectError(operation, code, str(error.get("Message", ""))) from None
                self.throttled[operation] += 1
                if attempt + 1 < attempts:
                    await self._sleep(self._backoff.pause(attempt))
            except BotoCoreError as e:
                raise ConnectError(operation, type(e).__name__, str(e)) from None
        raise ConnectError(
            operation, "ThrottlingException", f"{operation} throttled {attempts} times",
            throttled=True,
        )  # fmt: skip

    async def pages(self, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list operation."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = await self.call(operation, **params, **({"NextToken": token} if token else {}))
            items.extend(page.get(key) or [])
            token = page.get("NextToken")
            if not token:
                return items

    # --- the operations -------------------------------------------------------------------------

    async def list_agent_statuses(self) -> list[dict[str, Any]]:
        """The instance's *enabled* agent statuses as ``{Id, Arn, Name, Type}``.

        ListAgentStatuses also lists disabled statuses and does not say which: their State is
        only in SearchAgentStatuses (or DescribeAgentStatus, one call each)."""
        found = await self.pages(
            "SearchAgentStatuses", "AgentStatuses", InstanceId=self.instance_id, MaxResults=100
        )
        return [
            {"Id": s["AgentStatusId"], "Arn": s.get("AgentStatusARN"), "Name": s["Name"],
             "Type": s.get("Type")}
            for s in found
            if s.get("State", "ENABLED") == "ENABLED" and s.get("Name") and s.get("AgentStatusId")
        ]  # fmt: skip

    async def list_routing_profile_queues(self, profile_id: str) -> list[dict[str, Any]]:
        return await self.pages(
            "ListRoutingProfileQueues",
            "RoutingProfileQueueConfigSummaryList",
            InstanceId=self.instance_id,
            RoutingProfileId=profile_id,
            MaxResults=100,
        )

    async def list_queue_quick_connects(self, queue_id: str) -> list[dict[str, Any]]:
        return await self.pages(
            "ListQueueQuickConnects",
            "QuickConnectSummaryList",
            InstanceId=self.instance_id,
            QueueId=queue_id,
            MaxResults=100,
        )

    async def list_users(self) -> list[dict[str, Any]]:
        return await self.pages(
            "ListUsers", "UserSummaryList", InstanceId=self.instance_id, MaxResults=1000
        )

    async def get_current_user_data(self, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The current data of every user in ``user_ids``, at most 100 agents per request."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(user_ids), GET_CURRENT_USER_DATA_LIMIT):
            chunk = list(user_ids[start : start + GET_CURRENT_USER_DATA_LIMIT])
            out += await self.pages(
                "GetCurrentUserData",
                "UserDataList",
                InstanceId=self.instance_id,
                Filters={"Agents": chunk},
                MaxResults=GET_CURRENT_USER_DATA_LIMIT,
            )
        return out

    async def get_contact_attributes(self, contact_id: str) -> dict[str, str]:
        response = await self.call(
            "GetContactAttributes", InstanceId=self.instance_id, InitialContactId=contact_id
        )
        return {str(k): str(v) for k, v in (response.get("Attributes") or {}).items()}

    async def put_user_status(self, user_id: str, status_id: str) -> None:
        await self.call(
            "PutUserStatus", UserId=user_id, InstanceId=self.instance_id, AgentStatusId=status_id
        )

    async def dismiss_user_contact(self, user_id: str, contact_id: str) -> None:
        await self.call(
            "DismissUserContact", UserId=user_id, InstanceId=self.instance_id, ContactId=contact_id
        )

    async def stop_contact(self, contact_id: str) -> None:
        await self.call("StopContact", ContactId=contact_id, InstanceId=self.instance_id)

    async def start_outbound_voice_contact(
        self, number: str, *, queue_id: str = "", attributes: Iterable[tuple[str, str]] = ()
    ) -> str:
        """Place a flow-routed outbound call; the ContactId.  One ``ClientToken`` for every
        attempt, so Connect places the call at most once."""
        params: dict[str, Any] = {
            "DestinationPhoneNumber": number,
            "ContactFlowId": self.config.contact_flow_id,
            "InstanceId": self.instance_id,
            "ClientToken": self._client_token(),
        }
        if queue_id:
            params["QueueId"] = queue_id
        if self.config.source_phone_number:
            params["SourcePhoneNumber"] = self.config.source_phone_number
        attrs = dict(attributes)
        if attrs:
            params["Attributes"] = attrs
        response = await self.call("StartOutboundVoiceContact", **params)
        return str(response["ContactId"])
