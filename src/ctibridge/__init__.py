"""ctibridge: Amazon Connect agent call control as one JSON message API (WebSocket/HTTP).

Layering (tested in tests/test_layering.py): ``protocol`` (what the bytes mean) and ``engine``
(the rules) are sans-IO — they never import asyncio, starlette, uvicorn, boto3, time, logging or
any adapter package (``hub``, ``backends``, ``client``, ``cli``).  ``model`` and ``actions`` are
the plain values they share with the backends.  Adapters depend on the core, never the reverse.

The public names are loaded on first use (PEP 562), so ``import ctibridge.engine`` does not pull
the client's websockets and asyncio in through this package's ``__init__``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# the one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic)
__version__ = "0.1.0"

__all__ = ["Client", "Result", "Settings", "__version__"]

_LAZY = {"Client": ".client", "Result": ".client", "Settings": ".settings"}

if TYPE_CHECKING:
    from .client import Client, Result
    from .settings import Settings


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
