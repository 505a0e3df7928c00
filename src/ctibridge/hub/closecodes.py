"""The WebSocket close codes the hub sends apps, by name (as Starlette's ``status`` module names
HTTP's): 1000-1015 are RFC 6455's, 4000-4999 are ours, mirroring HTTP's 401/403/404/408."""

from __future__ import annotations

CLOSE_NORMAL = 1000  # the app went away, or its connection is done with
CLOSE_RESTART = 1012  # the hub is shutting down or restarting: reconnect (and resume) later
CLOSE_TOO_SLOW = 1013  # try again later: the app read too slowly, or the hub is full
CLOSE_UNAUTHORIZED = 4401  # no token, or a token that does not authenticate (or it expired)
CLOSE_FORBIDDEN = 4403  # the token does not name this agent, or the page's origin is not allowed
CLOSE_UNKNOWN_AGENT = 4404
CLOSE_IDLE = 4408  # nothing received for [limits] idle_timeout_s
