"""Every route the hub serves is either guarded (a token, and for sockets an allowed Origin) or
listed here as public on purpose: a route added without a decision fails this test."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ctibridge.backends.streams import StreamsBackend
from ctibridge.clock import RealClock
from ctibridge.config import BridgeConfig
from ctibridge.hub import Hub
from ctibridge.hub.app import create_app
from support.hub import secured, token

# public on purpose: pages and scripts that hold nothing of an agent (they ask for a token
# themselves), the published schemas, the health status (detail only with a token), metrics
PUBLIC = {
    "/", "/agent/{login}", "/config", "/toolbar", "/healthz", "/metrics", "/schema",
    "/asyncapi.json", "/bridge",
}  # fmt: skip
GUARDED_HTTP = {
    "/agents": "GET",
    "/agents/{login}/state": "GET",
    "/agents/{login}/messages": "POST",
}
GUARDED_SOCKETS = {"/ws", "/bridge/ws"}


@pytest.fixture
def client() -> Any:
    backend = StreamsBackend(RealClock(), BridgeConfig(), ["agent1"], ccp_url="x")
    with TestClient(create_app(Hub(backend, RealClock(), secured()))) as c:
        yield c


def test_every_route_is_guarded_or_public_on_purpose(client: Any) -> None:
    paths = {r.path for r in client.app.routes}
    # the bridge page's scripts (its own and the Streams bundle): static, nothing of an agent
    scripts = {p for p in paths if p.startswith("/bridge/") and p.endswith(".js")}
    assert paths - scripts == PUBLIC | set(GUARDED_HTTP) | GUARDED_SOCKETS
    assert all(isinstance(r, Mount) for r in client.app.routes if r.path == "/toolbar")


@pytest.mark.parametrize("path", sorted(GUARDED_HTTP))
def test_guarded_http_routes_refuse_a_request_without_token(client: Any, path: str) -> None:
    url = path.replace("{login}", "agent1")
    assert client.request(GUARDED_HTTP[path], url, json={}).status_code == 401


@pytest.mark.parametrize("path", sorted(GUARDED_SOCKETS))
def test_guarded_sockets_check_token_and_origin(client: Any, path: str) -> None:
    def close_code(url: str, **headers: str) -> int:
        with (
            client.websocket_connect(url, headers=headers) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            while True:
                ws.receive_text()
        return closed.value.code

    assert close_code(f"{path}?agent=agent1") == 4401
    forged = f"{path}?agent=agent1&token={token('agent1')}"
    assert close_code(forged, origin="http://evil.example") == 4403
