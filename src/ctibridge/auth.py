"""Tokens that name the agents an app may act for, and the browser-origin rule.

A token is ``ctb1.<claims>.<signature>``: the claims are base64url JSON ``{app, agents, iat,
exp, jti}`` and the signature is HMAC-SHA256 over ``ctb1.<claims>`` with the hub's secret, so
a hub checks a token without storing it.  Times are whole seconds since the Unix epoch and are
passed in (no clock is read here).  A token is a credential: it is shown once, by
``ctibridge token create``, and the hub never logs it (see ``hub/logs.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

import msgspec

from .errors import RequestError

PREFIX = "ctb1"
MIN_SECRET_CHARS = 32
MAX_TOKEN_CHARS = 8192
# a token issued by a hub whose clock runs a little ahead is still accepted
CLOCK_SKEW_S = 60


class AuthError(RequestError):
    """A token that does not authenticate; ``reason`` is safe to show (never the token)."""

    error_type = "UNAUTHORIZED"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Claims(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    app: str
    agents: tuple[str, ...]
    iat: int
    exp: int | None
    jti: str


class Grant(msgspec.Struct, frozen=True):
    """What a valid token allows: the app acting and the agents it may act for."""

    app: str
    agents: frozenset[str]
    expires_at: int | None
    token_id: str

    def allows(self, login: str) -> bool:
        return login in self.agents


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def check_secret(secret: str | None) -> str:
    """``secret`` if it is usable as the signing key, else ValueError saying why."""
    if not secret:
        raise ValueError(
            "no auth secret: set CTIBRIDGE_AUTH_SECRET (or [auth] secret_file); "
            "`ctibridge token secret` makes one"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"the auth secret must be at least {MIN_SECRET_CHARS} characters")
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, signed: str) -> str:
    return _b64(hmac.new(secret.encode(), signed.encode("ascii"), hashlib.sha256).digest())


def issue(
    secret: str,
    agents: list[str] | tuple[str, ...],
    app: str,
    now_s: int,
    ttl_s: int | None,
    token_id: str | None = None,
) -> str:
    """A token for ``app`` acting for ``agents``, valid ``ttl_s`` seconds (None: no expiry)."""
    check_secret(secret)
    if not agents:
        raise ValueError("a token must name at least one agent")
    if not app:
        raise ValueError("a token must name the app")
    if ttl_s is not None and ttl_s <= 0:
        raise ValueError("ttl must be positive")
    claims = Claims(
        app=app,
        agents=tuple(dict.fromkeys(agents)),
        iat=now_s,
        exp=None if ttl_s is None else now_s + ttl_s,
        jti=token_id or secrets.token_hex(8),
    )
    signed = f"{PREFIX}.{_b64(msgspec.json.encode(claims))}"
    return f"{signed}.{_sign(secret, signed)}"


def verify(secret: str, token: str | None, now_s: int) -> Grant:
    """The grant ``token`` carries, or :class:`AuthError` (missing, malformed, forged, expired)."""
    if not token:
        raise AuthError("no token")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("malformed token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise AuthError("malformed token")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        expected = _sign(secret, signed)
    except UnicodeEncodeError:
        raise AuthError("malformed token") from None
    if not hmac.compare_digest(expected.encode(), parts[2].encode("utf-8", "replace")):
        raise AuthError("invalid token signature")
    try:
        claims = msgspec.json.decode(_unb64(parts[1]), type=Claims)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise AuthError("malformed token") from None
    if claims.exp is not None and now_s >= claims.exp:
        raise AuthError("token expired")
    if claims.iat > now_s + CLOCK_SKEW_S:
        raise AuthError("token not yet valid")
    return Grant(
        app=claims.app,
        agents=frozenset(claims.agents),
        expires_at=claims.exp,
        token_id=claims.jti,
    )


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """May a page from ``origin`` talk to the hub reached as ``host``?

    No Origin header: not a browser, allowed (tokens still apply).  A browser page is allowed
    when it comes from the hub itself (same host and port) or from an origin in ``allowed``
    ("*" allows any).  This stops other web sites open in an agent's browser from driving a hub
    on localhost (cross-site WebSocket hijacking), with or without tokens.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if "*" in allowed or origin in {o.rstrip("/").lower() for o in allowed}:
        return True
    parts = urlsplit(origin)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == (host or "").lower()


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def loopback_host(host: str | None) -> bool:
    """Is ``host`` (a Host header: name, optional ``:port``) a loopback name?

    A hub without tokens serves this machine only; a page of another site whose DNS name
    resolves to 127.0.0.1 (DNS rebinding) is same-origin with the hub as far as the browser
    knows, but its requests still carry its own name in ``Host``."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
    else:
        name, _, port = host.partition(":")
        rest = ":" + port if port else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return False
    return name in LOOPBACK_HOSTS
