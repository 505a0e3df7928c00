"""The ``streams`` backend: the browser bridge running amazon-connect-streams for each agent.

See :mod:`.backend` for how commands and snapshots flow, :mod:`.mapping` for how a Streams
snapshot becomes the model's, :mod:`.wire` for the bridge's messages and
``ctibridge/static/bridge/`` for the page itself.
"""

from .backend import BRIDGE_UNAVAILABLE, BridgeLink, StreamsBackend

__all__ = ["BRIDGE_UNAVAILABLE", "BridgeLink", "StreamsBackend"]
