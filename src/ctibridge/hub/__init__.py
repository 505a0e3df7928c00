"""The I/O shell: the hub (engine + backend + fan-out) and its Starlette app."""

from .app import create_app
from .core import AppConnection, Hub

__all__ = ["AppConnection", "Hub", "create_app"]
