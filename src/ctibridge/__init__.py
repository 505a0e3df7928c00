"""ctibridge: Amazon Connect agent call control as one JSON message API (WebSocket/HTTP).

Layering (tested in tests/test_layering.py): ``protocol`` (what the bytes mean) and ``engine``
(the rules) are sans-IO — they never import asyncio, starlette, uvicorn, boto3, time, logging or
any adapter package (``hub``, ``backends``, ``client``, ``cli``).  ``model`` and ``actions`` are
the plain values they share with the backends.  Adapters depend on the core, never the reverse.
"""

from .client import Client, Result
from .settings import Settings

__version__ = "0.1.0"

__all__ = ["Client", "Result", "Settings", "__version__"]
