"""Every close code the hub can send is in the protocol's close-code table (docs/protocol.md),
and the one the WebSocket layer sends itself - 1007, a text frame that is not UTF-8 - happens."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import websockets

from livehub import LiveHub
from support.hub import recv_json, ws_url

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
SOURCES = Path(__file__).resolve().parents[2] / "src" / "ctibridge"


def documented() -> set[int]:
    return {int(code) for code in re.findall(r"^\s*\|\s*(\d{4})\s*\|", PROTOCOL.read_text(), re.M)}


def test_every_close_code_in_the_source_is_documented() -> None:
    used = set()
    for path in SOURCES.rglob("*.py"):
        used |= {int(c) for c in re.findall(r"^CLOSE_\w+ = (\d{4})", path.read_text(), re.M)}
    assert {1012, 1013, 4401, 4403, 4404, 4408, 4409} <= used  # the constants were found
    assert used | {1007} <= documented()  # 1007 is sent by the WebSocket layer itself


async def test_a_text_frame_that_is_not_utf8_closes_1007(live: LiveHub) -> None:
    ws = await websockets.connect(ws_url(live.url))
    await recv_json(ws), await recv_json(ws)
    await ws.send(b'{"a": "\xff"}', text=True)  # a text frame whose bytes are not UTF-8
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
    assert ws.close_code == 1007
