"""``ctibridge conform``: the published-contract conformance kit, for any endpoint.

It checks docs/protocol.md revision ``REVISION`` with its own rules (``rules``), the published
samples shipped beside it (``samples/rev<N>/``) and its own scenarios (``scenarios``), through the
WebSocket client only: it never asks the hub's engine what is right.
"""

from __future__ import annotations

REVISION = 2
