"""Tokens (issue/verify) and the origin rule, as plain function calls."""

from __future__ import annotations

import base64
import json

import pytest

from ctibridge import auth

SECRET = "s" * 40
NOW = 1_700_000_000


def test_a_token_carries_its_app_and_agents() -> None:
    token = auth.issue(SECRET, ["agent1", "agent2"], "crm", NOW, 3600, token_id="t1")
    grant = auth.verify(SECRET, token, NOW + 10)
    assert grant == auth.Grant(
        app="crm", agents=frozenset({"agent1", "agent2"}), expires_at=NOW + 3600, token_id="t1"
    )
    assert grant.allows("agent1") and grant.allows("agent2")
    assert not grant.allows("agent3") and not grant.allows("")


def test_a_token_without_expiry_stays_valid() -> None:
    token = auth.issue(SECRET, ["agent1"], "crm", NOW, None)
    assert auth.verify(SECRET, token, NOW + 10 * 365 * 86400).expires_at is None


def _reason(token: str | None, secret: str = SECRET, now: int = NOW) -> str:
    with pytest.raises(auth.AuthError) as info:
        auth.verify(secret, token, now)
    return info.value.reason


def _forge(token: str, **changes: object) -> str:
    """The token with its claims changed and its signature kept."""
    prefix, claims, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    data.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{prefix}.{raw}.{sig}"


def test_tokens_that_do_not_authenticate() -> None:
    token = auth.issue(SECRET, ["agent1"], "crm", NOW, 3600)
    assert _reason(None) == "no token"
    assert _reason("") == "no token"
    assert _reason(token, secret="t" * 40) == "invalid token signature"
    assert _reason(_forge(token, agents=["agent1", "agent2"])) == "invalid token signature"
    assert _reason(_forge(token, exp=None)) == "invalid token signature"
    assert _reason(token, now=NOW + 3600) == "token expired"
    assert _reason(token, now=NOW - auth.CLOCK_SKEW_S - 1) == "token not yet valid"
    for bad in ("x", "ctb1.a", "ctb2.a.b", "ctb1.a.b.c", "ctb1..", "ctb1.é.é", "a" * 9000):
        assert _reason(bad) in ("malformed token", "invalid token signature"), bad


def test_claims_that_are_signed_but_malformed_are_refused() -> None:
    signed = "ctb1." + base64.urlsafe_b64encode(b'{"app": 1}').rstrip(b"=").decode()
    token = f"{signed}.{auth._sign(SECRET, signed)}"
    assert _reason(token) == "malformed token"


def test_issue_refuses_weak_secrets_and_empty_grants() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        auth.issue("short", ["agent1"], "crm", NOW, 60)
    with pytest.raises(ValueError, match="no auth secret"):
        auth.check_secret(None)
    with pytest.raises(ValueError, match="agent"):
        auth.issue(SECRET, [], "crm", NOW, 60)
    with pytest.raises(ValueError, match="app"):
        auth.issue(SECRET, ["agent1"], "", NOW, 60)
    with pytest.raises(ValueError, match="ttl"):
        auth.issue(SECRET, ["agent1"], "crm", NOW, 0)
    assert len(auth.new_secret()) >= auth.MIN_SECRET_CHARS


def test_bearer_header() -> None:
    assert auth.bearer("Bearer abc") == "abc"
    assert auth.bearer("bearer  abc ") == "abc"
    assert auth.bearer("Basic abc") is None
    assert auth.bearer("Bearer ") is None
    assert auth.bearer(None) is None


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "hub:8765", (), True),  # not a browser
        ("http://hub:8765", "hub:8765", (), True),  # the hub's own pages
        ("https://hub:8765", "hub:8765", (), True),
        ("http://evil.example", "hub:8765", (), False),
        ("http://hub:9999", "hub:8765", (), False),  # another port is another origin
        ("null", "hub:8765", (), False),  # file:// and sandboxed pages
        ("https://crm.example", "hub:8765", ("https://crm.example",), True),
        ("https://CRM.example/", "hub:8765", ("https://crm.example",), True),
        ("https://crm.example.evil", "hub:8765", ("https://crm.example",), False),
        ("http://anything", "hub:8765", ("*",), True),
        ("http://hub:8765", None, (), False),
    ],
)
def test_origin_rule(
    origin: str | None, host: str | None, allowed: tuple[str, ...], ok: bool
) -> None:
    assert auth.origin_allowed(origin, host, allowed) is ok
