"""The I/O shell: the hub (engine + backend + fan-out) and its Starlette app."""

from .app import create_app
from .connection import AppConnection
from .core import Hub

__all__ = ["AppConnection", "Hub", "create_app"]
