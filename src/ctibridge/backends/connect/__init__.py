"""The ``connect`` backend: Amazon Connect's server-side APIs (boto3) and the Agent Event Stream.

:mod:`.backend` carries out commands and keeps each agent's snapshot; :mod:`.api` makes the
Connect requests within their quotas (:mod:`.throttle`); :mod:`.kinesis` reads the Agent Event
Stream with per-shard checkpoints; :mod:`.aes` maps what Connect reports to the model.
"""

from .api import ConnectApi, ConnectError, connect_client
from .backend import REQUIRES_BRIDGE, ConnectBackend

__all__ = ["REQUIRES_BRIDGE", "ConnectApi", "ConnectBackend", "ConnectError", "connect_client"]
