"""CorkedWebSocketProtocol (hub/transport.py): the writes of one loop tick reach the socket as
one write, in order; closing writes what is held first; a hub served with it works end to end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import uvicorn
import websockets
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from ctibridge.backends.sim import SimBackend
from ctibridge.client import Client
from ctibridge.clock import ManualClock
from ctibridge.hub import Hub
from ctibridge.hub.connection import AppConnection
from ctibridge.hub.server import uvicorn_config
from ctibridge.hub.transport import CorkedTransport, CorkedWebSocketProtocol, text_frame
from ctibridge.settings import AuthSettings, Settings
from livehub import start_live_hub, stop_live_hub
from support.hub import insecure, outbox_messages, recv_json, request, ws_url


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def corked() -> tuple[CorkedTransport, FakeTransport]:
    fake = FakeTransport()
    return CorkedTransport(fake, asyncio.get_running_loop()), fake  # type: ignore[arg-type]


async def test_the_writes_of_one_tick_become_one_write_in_order() -> None:
    transport, fake = corked()
    transport.write(b"a")
    transport.write(b"bc")
    transport.write(b"d")
    assert fake.writes == []  # held until the end of the tick
    await asyncio.sleep(0)
    assert fake.writes == [b"abcd"]
    transport.write(b"e")
    await asyncio.sleep(0)
    assert fake.writes == [b"abcd", b"e"]


async def test_close_writes_what_is_held_first_and_nothing_is_written_after() -> None:
    transport, fake = corked()
    transport.write(b"last frame")
    transport.close()
    assert fake.writes == [b"last frame"] and fake.closed
    transport.write(b"too late")
    await asyncio.sleep(0)
    assert fake.writes == [b"last frame"]


async def test_other_attributes_are_the_real_transports() -> None:
    transport, _ = corked()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert not transport.is_closing()


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_is_what_a_websocket_reader_parses(size: int) -> None:
    payload = b"x" * size
    data = text_frame(payload)
    chunks = [data]

    def read_exact(n: int) -> Any:
        buf = chunks[0][:n]
        chunks[0] = chunks[0][n:]
        yield from ()
        return buf

    parser = Frame.parse(read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload
    assert chunks[0] == b""


def test_an_app_connection_writes_a_frame_directly_only_when_nothing_waits_before_it() -> None:
    conn = AppConnection("c1", "agent1", limit=10)
    written: list[bytes] = []
    accept = True

    def direct(frame: bytes) -> bool:
        if accept:
            written.append(frame)
        return accept

    conn.direct = direct
    conn.push("a", b"A")
    assert written == [b"A"] and conn.outbox.empty()
    conn.push("b")  # no frame (an answer to this app alone): through the outbox
    conn.push("c", b"C")  # "b" waits before it: queued behind, never overtaking
    assert written == [b"A"]
    assert [conn.outbox.get_nowait(), conn.outbox.get_nowait()] == ["b", "c"]
    accept = False  # paused by flow control, or closing: the ordinary path
    conn.push("d", b"D")
    assert written == [b"A"] and conn.outbox.get_nowait() == "d"
    accept = True
    conn.sending = True  # the writer holds "d", waiting for the socket: "e" must not pass it
    conn.push("e", b"E")
    assert written == [b"A"] and conn.outbox.get_nowait() == "e"
    conn.sending = False
    conn.shut(1000, "")  # closing: nothing more is written, directly or not
    assert not conn.push("f", b"F") and written == [b"A"]


async def test_a_hub_served_with_the_corked_protocol_answers_in_order(monkeypatch: Any) -> None:
    flushes = 0
    flush = CorkedTransport.flush

    def counted(self: CorkedTransport) -> None:
        nonlocal flushes
        flushes += 1
        flush(self)

    monkeypatch.setattr(CorkedTransport, "flush", counted)
    direct_writes = 0
    write_frame = CorkedWebSocketProtocol.write_frame

    def counted_write(self: CorkedWebSocketProtocol, frame: bytes) -> bool:
        nonlocal direct_writes
        done = write_frame(self, frame)
        direct_writes += done
        return done

    monkeypatch.setattr(CorkedWebSocketProtocol, "write_frame", counted_write)
    clock = ManualClock()
    settings = Settings(sim_agents=1, auth=AuthSettings(insecure=True))
    hub = Hub(SimBackend(clock, seed=5, agents=1), clock, settings)
    server = uvicorn.Server(uvicorn_config(hub, host="127.0.0.1", port=0))  # as `ctibridge serve`
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        apps = [await Client.connect(url, "agent1") for _ in range(2)]
        assert [m["subtopic"] for m in apps[0].sync] == ["StateSync", "StateSync"]
        ring = await apps[0].request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"})
        answer = await apps[0].request("InboundCall", "Answer")
        assert ring.ok and answer.ok
        seqs = [m["seq"] for m in ring.events + answer.events]
        assert seqs == list(range(1, len(seqs) + 1))
        # the other app got the same events, in the same order, through its own corked socket
        other = [await apps[1].next_event() for _ in seqs]
        assert [m["seq"] for m in other] == seqs
        assert flushes > 0  # the frames went through the corked transport
        # the events were written as prebuilt frames, each step's in one write per app (2 apps)
        assert 0 < direct_writes < 2 * len(seqs)
        for app in apps:
            await app.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_the_apps_frames_reach_the_hub_from_the_parser_in_order_text_or_binary(
    monkeypatch: Any,
) -> None:
    """Frames are handed to the hub from the protocol (the ``read`` of the frames extension),
    not through the ASGI receive queue; binary frames too; invalid UTF-8 still closes 1007."""
    queued: list[str] = []
    queue_path = WebSocketsSansIOProtocol.send_receive_event_to_app

    def counted(self: WebSocketsSansIOProtocol) -> None:  # uvicorn's path: the ASGI queue
        queued.append(self.curr_msg_data_type)
        queue_path(self)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "send_receive_event_to_app", counted)
    live = await start_live_hub(insecure())
    try:
        app = await websockets.connect(ws_url(live.url))
        assert [(await recv_json(app))["subtopic"] for _ in "ab"] == ["StateSync"] * 2
        # several frames in one packet: each one answered, in order
        frames = [request("Agent", "GetStates", rid=f"t{i}") for i in range(5)]
        await app.send(frames[0].encode())  # a binary frame: the hub takes bytes too
        for frame in frames[1:]:
            await app.send(frame)
        answers = [await recv_json(app) for _ in frames]
        assert [m["requestId"] for m in answers] == [f"t{i}" for i in range(5)]
        assert queued == []  # none of them went through the ASGI queue
        await app.send("not json")  # still answered by the hub, to this app
        assert (await recv_json(app))["message"]["type"] == "INVALID_JSON"
        await app.close()
        # a text frame that is not UTF-8 (masked with a zero key): uvicorn's close 1007
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(
            f"GET /ws?agent=agent1 HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .encode()
        )  # fmt: skip
        received = b""
        async with asyncio.timeout(5):
            while received.count(b"StateSync") < 2:  # open, and the hub has sent its syncs
                received += await reader.read(65536)
            writer.write(b"\x81\x82\x00\x00\x00\x00\xff\xfe")
            while b"\x88\x02\x03\xef" not in received:  # a close frame with code 1007
                chunk = await reader.read(65536)
                assert chunk, received
                received += chunk
        writer.close()
        assert queued == ["text"]  # the one frame handed back to uvicorn: it refused it
    finally:
        await stop_live_hub(live)


async def tasks_settle_at(count: int) -> int:
    """The tasks of this loop once it has settled at ``count`` (a writer that took its last
    message ends within a few ticks), or what it stayed at."""
    for _ in range(200):
        if len(asyncio.all_tasks()) == count:
            break
        await asyncio.sleep(0.001)
    return len(asyncio.all_tasks())


async def test_an_idle_connection_has_no_writer_task_and_a_queued_message_starts_one() -> None:
    live = await start_live_hub(insecure())
    try:
        before = len(asyncio.all_tasks())
        # (no client keepalive: its task would count too)
        apps = [await websockets.connect(ws_url(live.url), ping_interval=None) for _ in "abc"]
        for app in apps:  # the StateSyncs went through each app's outbox, sent by a writer
            assert [(await recv_json(app))["subtopic"] for _ in "ab"] == ["StateSync"] * 2
        # idle: each connection is its endpoint's task alone, none waits on an empty outbox
        assert await tasks_settle_at(before + 3) == before + 3
        for i in range(3):  # an answer to one app only goes through its outbox: a writer again
            await apps[0].send(request("Agent", "GetStates", rid=f"q{i}"))
            assert (await recv_json(apps[0]))["requestId"] == f"q{i}"
            assert await tasks_settle_at(before + 3) == before + 3
        for app in apps:
            await app.close()
    finally:
        await stop_live_hub(live)


def frames_of(data: bytes) -> list[bytes]:
    """The payloads of the unmasked text frames written back to back in ``data``."""
    payloads = []
    while data:
        assert data[0] == 0x81
        n, at = data[1], 2
        if n == 126:
            n, at = int.from_bytes(data[2:4], "big"), 4
        payloads.append(data[at : at + n])
        data = data[at + n :]
    return payloads


async def test_a_steps_events_reach_each_app_as_one_write_or_in_order_behind_its_queue() -> None:
    clock = ManualClock()
    hub = Hub(SimBackend(clock, seed=5, agents=1), clock, insecure())
    await hub.start()
    try:
        direct_app, queued_app = hub.attach("agent1"), hub.attach("agent1")
        writes: list[bytes] = []

        def write(frames: bytes) -> bool:
            writes.append(frames)
            return True

        direct_app.direct = queued_app.direct = write
        outbox_messages(direct_app), outbox_messages(queued_app)  # the StateSyncs of attach()
        queued_app.push('{"answer": "to this app alone"}')  # what follows waits behind it
        call = request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}, rid="r1")
        hub.receive("agent1", direct_app.id, call)
        await asyncio.sleep(0)  # the tick's end: the step's events are journaled and sent
        queued = outbox_messages(queued_app)
        assert queued[0] == {"answer": "to this app alone"}
        events = queued[1:]
        seqs = [m["seq"] for m in events]
        assert len(seqs) >= 2 and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        # the other app: the same events, in the same order, all in one write
        assert len(writes) == 1
        assert [json.loads(payload) for payload in frames_of(writes[0])] == events
    finally:
        await hub.stop()
