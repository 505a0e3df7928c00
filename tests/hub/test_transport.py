"""CorkedWebSocketProtocol (hub/transport.py): the writes of one loop tick reach the socket as
one write, in order; closing writes what is held first; a hub served with it works end to end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from websockets.frames import Frame, Opcode

from ctibridge.backends.sim import SimBackend
from ctibridge.client import Client
from ctibridge.clock import ManualClock
from ctibridge.hub import Hub
from ctibridge.hub.connection import AppConnection
from ctibridge.hub.server import uvicorn_config
from ctibridge.hub.transport import CorkedTransport, CorkedWebSocketProtocol, text_frame
from ctibridge.settings import AuthSettings, Settings


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
        assert direct_writes >= len(seqs)  # events were written as prebuilt frames
        for app in apps:
            await app.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
