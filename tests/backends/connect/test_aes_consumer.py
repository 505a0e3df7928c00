"""The Agent Event Stream consumer against a real Kinesis API: moto's server on a loopback port,
behind a small proxy that answers HTTP 429 when told to.  Records are Connect-shaped
(aes_records.py); the consumer feeds a ConnectBackend whose Connect APIs are stubbed."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from ctibridge.backends.connect import ConnectApi, ConnectBackend
from ctibridge.backends.connect.kinesis import AesConsumer, Checkpoints
from ctibridge.backends.connect.throttle import Backoff
from ctibridge.clock import ManualClock
from ctibridge.config import ConnectConfig, RateLimit
from support.aes_records import (
    INSTANCE_ID,
    T0,
    agent_arn,
    contact,
    encoded,
    record,
    stubbed_connect,
)

STREAM = "connect-agent-events"


class ThrottlingProxy:
    """Forwards every request to moto, except that the next ``n`` requests of an operation
    (X-Amz-Target suffix) get HTTP 429 LimitExceededException, as an over-quota API does."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.throttle: dict[str, int] = {}
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                proxy.seen.append(operation)
                if proxy.throttle.get(operation, 0) > 0:
                    proxy.throttle[operation] -= 1
                    payload = b'{"__type":"LimitExceededException","message":"Rate exceeded"}'
                    self.send_response(429)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body, headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, int]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield host, port
    server.stop()


@pytest.fixture
def proxy(moto: tuple[str, int]) -> Iterator[ThrottlingProxy]:
    p = ThrottlingProxy(moto)
    p.thread.start()
    yield p
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def kinesis(proxy: ThrottlingProxy, aws_env: None) -> Iterator[Any]:
    client = boto3.client(
        "kinesis", region_name="us-east-1", endpoint_url=proxy.url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )  # fmt: skip
    name = f"{STREAM}-{id(proxy)}"
    client.create_stream(StreamName=name, ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})  # type: ignore[typeddict-item]
    client.stream_name = name  # type: ignore[attr-defined]  # the test's stream, for the tests
    yield client
    client.delete_stream(StreamName=name)


def put(kinesis: Any, *records: dict[str, Any]) -> None:
    for rec in records:
        kinesis.put_record(
            StreamName=kinesis.stream_name, Data=encoded(rec), PartitionKey=rec["AgentARN"]
        )


USERS = [f"u-{n:03d}" for n in range(1, 4)]
CONFIG = ConnectConfig(
    region="us-east-1",
    instance_id=INSTANCE_ID,
    agents={f"agent{n}": u for n, u in enumerate(USERS, 1)},
    rate=RateLimit(rate=1000, burst=1000),
    poll_seconds=0.05,
    start_position="TRIM_HORIZON",
)


class Harness:
    def __init__(self, kinesis: Any, checkpoint: Path) -> None:
        connect, self.stubber = stubbed_connect(USERS)
        config = ConnectConfig(
            **{
                **{f: getattr(CONFIG, f) for f in CONFIG.__struct_fields__},
                "kinesis_stream": kinesis.stream_name,
                "checkpoint_file": str(checkpoint),
            }
        )
        self.backend = ConnectBackend(
            ManualClock(), config, ConnectApi(connect, config), kinesis=kinesis
        )
        self.backend_ready = False
        self.reported: list[tuple[str, str, int]] = []

    async def __aenter__(self) -> Harness:
        await self.backend.prepare()
        await self.backend.start(
            lambda login, snap: self.reported.append((login, snap.state.label, len(snap.contacts)))
        )
        assert self.backend.consumer is not None
        self.backend.consumer._backoff = Backoff(base=0.01, cap=0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.backend.stop()
        self.stubber.deactivate()

    async def until(self, what: str, predicate: Any, timeout: float = 10) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            assert loop.time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)


def at(seconds: int) -> Any:
    return T0 + timedelta(seconds=seconds)


async def test_records_from_every_shard_become_snapshots_in_order(
    kinesis: Any, tmp_path: Path
) -> None:
    put(
        kinesis,
        record("u-001", "STATE_CHANGE", "Break", at=at(1)),
        record("u-002", "STATE_CHANGE", "Lunch", at=at(1)),
        record("u-003", "LOGOUT", "Offline", at=at(1)),
        record("u-001", "STATE_CHANGE", "Available", at=at(2)),
    )
    async with Harness(kinesis, tmp_path / "cp.json") as h:
        await h.until(
            "three agents updated",
            lambda: h.backend.stats["state_change"] == 3 and h.backend.stats["logout"] == 1,
        )
        states = {login: h.backend.snapshot(login) for login in h.backend.logins()}
        assert [(s.state.label, s.logged_in) for s in states.values()] == [
            ("Available", True),
            ("Lunch", True),
            ("Offline", False),
        ]
        # per agent, in stream order
        assert [state for login, state, _ in h.reported if login == "agent1"][-2:] == [
            "Break",
            "Available",
        ]


async def test_throttled_reads_are_retried_and_nothing_is_lost(
    kinesis: Any, proxy: ThrottlingProxy, tmp_path: Path
) -> None:
    put(
        kinesis,
        *(
            record("u-001", "STATE_CHANGE", "Break" if n % 2 else "Lunch", at=at(n))
            for n in range(1, 21)
        ),
    )
    proxy.throttle = {"GetRecords": 3, "ListShards": 1, "GetShardIterator": 1}
    async with Harness(kinesis, tmp_path / "cp.json") as h:
        await h.until("20 records", lambda: h.backend.stats["state_change"] == 20)
        assert h.backend.consumer is not None and h.backend.consumer.stats["throttled"] == 5
        assert h.backend.snapshot("agent1").state.label == "Lunch"
        assert h.backend.stats["duplicates"] == 0 and h.backend.stats["out_of_order"] == 0


async def test_a_restart_resumes_from_the_checkpoint(kinesis: Any, tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.json"
    put(
        kinesis,
        record("u-001", "STATE_CHANGE", "Break", at=at(1)),
        record("u-002", "STATE_CHANGE", "Break", at=at(1)),
    )
    async with Harness(kinesis, checkpoint) as h:
        await h.until("2 records", lambda: h.backend.stats["state_change"] == 2)
        assert h.backend.consumer is not None
        await h.until("caught up", h.backend.consumer.caught_up.is_set)
    assert checkpoint.is_file()
    put(kinesis, record("u-001", "STATE_CHANGE", "Lunch", at=at(5)))
    async with Harness(kinesis, checkpoint) as h:
        await h.until("the new record", lambda: h.backend.stats["state_change"] >= 1)
        assert h.backend.consumer is not None
        await h.until("caught up", h.backend.consumer.caught_up.is_set)
        await asyncio.sleep(0.2)  # a few more polls: nothing old comes back
        assert h.backend.stats["state_change"] == 1
        assert h.backend.consumer is not None and h.backend.consumer.stats["records"] == 1
        assert h.backend.snapshot("agent1").state.label == "Lunch"


async def test_duplicates_out_of_order_and_malformed_records(kinesis: Any, tmp_path: Path) -> None:
    first = record("u-001", "STATE_CHANGE", "Break", at=at(10))
    put(
        kinesis,
        first,
        first,  # delivered twice (a producer retry)
        record("u-001", "STATE_CHANGE", "Lunch", at=at(9)),  # older than what was applied
        record("u-002", "HEART_BEAT", "Available", at=at(10)),
    )
    kinesis.put_record(
        StreamName=kinesis.stream_name, Data=b"not json", PartitionKey=agent_arn("u-001")
    )
    put(
        kinesis,
        record(
            "u-001",
            "STATE_CHANGE",
            "Available",
            [contact("c-1", "CONNECTED_ONHOLD", since=at(11))],
            at=at(11),
        ),
    )
    async with Harness(kinesis, tmp_path / "cp.json") as h:
        h.stubber.add_response(
            "get_contact_attributes",
            {"Attributes": {"tier": "gold"}},
            {"InstanceId": INSTANCE_ID, "InitialContactId": "c-1"},
        )
        consumer = h.backend.consumer
        assert consumer is not None
        await h.until("all records", lambda: consumer.stats["records"] == 6)
        # the last record is applied after its GetContactAttributes call: wait for that too
        await h.until("the contact", lambda: bool(h.backend.snapshot("agent1").contacts))
        assert h.backend.stats["duplicates"] == 1
        assert h.backend.stats["out_of_order"] == 1
        assert consumer.stats["malformed"] == 1
        assert h.backend.stats["heart_beat"] == 1
        snap = h.backend.snapshot("agent1")
        assert snap.state.label == "Available"
        c = snap.contacts[0]
        assert [(x.role, x.status) for x in c.connections] == [
            ("agent", "connected"),
            ("customer", "hold"),
        ]
        assert c.attributes == (("tier", "gold"),)


async def test_a_child_shard_is_read_after_its_parent_from_its_start() -> None:
    """Resharding: the child waits for its parent to be finished and starts at TRIM_HORIZON;
    ListShards is called on a timer and when a shard closes, not on every poll."""
    kinesis = boto3.client(
        "kinesis", region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    clock = [0.0]
    seen: list[str] = []

    async def handle(data: Any) -> None:
        seen.append(data["EventId"])

    def rec(n: int) -> dict[str, Any]:
        return {"SequenceNumber": str(n), "Data": json.dumps({"EventId": f"r{n}"}).encode(),
                "PartitionKey": "k"}  # fmt: skip

    stream = {"StreamName": "aes"}
    parent = {"ShardId": "s0", "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "9"},
              "SequenceNumberRange": {"StartingSequenceNumber": "1"}}  # fmt: skip
    child = {**parent, "ShardId": "s1", "ParentShardId": "s0"}
    with Stubber(kinesis) as stub:
        consumer = AesConsumer(
            kinesis, "aes", handle, Checkpoints(None, "aes"), start_position="LATEST",
            list_seconds=30, now=lambda: clock[0],
        )  # fmt: skip
        # the first listing already shows the child: only the parent is read
        stub.add_response("list_shards", {"Shards": [parent, child]}, stream)
        stub.add_response(
            "get_shard_iterator", {"ShardIterator": "it0"},
            {**stream, "ShardId": "s0", "ShardIteratorType": "LATEST"},
        )  # fmt: skip
        stub.add_response("get_records", {"Records": [rec(1)], "NextShardIterator": "it0b"},
                          {"ShardIterator": "it0", "Limit": 1000})  # fmt: skip
        await consumer.poll()
        # no ListShards on the next poll: the parent ends
        stub.add_response("get_records", {"Records": [rec(2)]},
                          {"ShardIterator": "it0b", "Limit": 1000})  # fmt: skip
        await consumer.poll()
        # a shard closed: the list is read again and the child starts from its first record
        stub.add_response("list_shards", {"Shards": [parent, child]}, stream)
        stub.add_response(
            "get_shard_iterator", {"ShardIterator": "it1"},
            {**stream, "ShardId": "s1", "ShardIteratorType": "TRIM_HORIZON"},
        )  # fmt: skip
        stub.add_response("get_records", {"Records": [rec(3)], "NextShardIterator": "it1b"},
                          {"ShardIterator": "it1", "Limit": 1000})  # fmt: skip
        await consumer.poll()
        clock[0] = 31.0  # the timer: the list again
        stub.add_response("list_shards", {"Shards": [parent, child]}, stream)
        stub.add_response("get_records", {"Records": [], "NextShardIterator": "it1c"},
                          {"ShardIterator": "it1b", "Limit": 1000})  # fmt: skip
        await consumer.poll()
        stub.assert_no_pending_responses()
    assert seen == ["r1", "r2", "r3"]
