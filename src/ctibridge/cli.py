"""``ctibridge`` — serve the hub, or talk to one from the shell."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import re
import socket
import sys
import time
from typing import Any
from urllib.parse import quote

import msgspec

DEFAULT_URL = "ws://127.0.0.1:8765"
# what a refused connection means, by the hub's close code, and what to do about it
CLOSE_HINTS = {
    4401: "the hub wants a token: pass --token or set CTIBRIDGE_TOKEN "
    "(ctibridge token create --agent A --app NAME, on the hub's machine)",
    4403: "the token does not allow this agent (or this page's origin): "
    "create one that names it with ctibridge token create --agent A --app NAME",
    4404: "no such agent: GET /agents on the hub lists them",
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    from . import auth
    from .backends.build import build_backend
    from .clock import RealClock
    from .config import ConfigError, load_settings
    from .hub import Hub, logs
    from .hub.server import serve
    from .journal import JournalBusy

    flags = {"host": args.host, "port": args.port, "backend": args.backend,
             "sim_agents": args.agents, "sim_seed": args.seed}  # fmt: skip
    overrides: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    if args.insecure:
        overrides["auth"] = {"insecure": True}
    if args.journal is not None:
        overrides["journal"] = {"path": args.journal}
    cluster_flags = {"redis_url": args.cluster, "node_id": args.node_id}
    if any(v is not None for v in cluster_flags.values()):
        overrides["cluster"] = {k: v for k, v in cluster_flags.items() if v is not None}
    try:
        settings = load_settings(args.config, os.environ, overrides)
    except ConfigError as e:
        print(f"ctibridge: {e}", file=sys.stderr)
        return 2
    if settings.cluster.redis_url and settings.journal.path:
        print(
            "ctibridge: --journal (or [journal] path) cannot be used with --cluster: in cluster "
            "mode the journal lives in Redis",
            file=sys.stderr,
        )
        return 2
    if settings.auth.insecure and not _is_loopback(settings.host):
        print("ctibridge: --insecure is only allowed on a loopback host", file=sys.stderr)
        return 2
    if not settings.auth.insecure:
        try:
            auth.check_secret(settings.auth.secret)
        except ValueError as e:
            print(f"ctibridge: {e} (or run with --insecure on loopback)", file=sys.stderr)
            return 2
    logs.configure(settings.log.format, settings.log.level, secrets=(settings.auth.secret or "",))
    clock = RealClock()
    try:  # the Amazon Connect backends read [connect] / [bridge] of the settings
        backend = build_backend(
            settings.backend, clock, settings, sim_agents=settings.sim_agents,
            sim_seed=settings.sim_seed,
        )  # fmt: skip
        hub = _cluster_hub(backend, clock, settings) or Hub(backend, clock, settings)
    except (ConfigError, JournalBusy) as e:
        print(f"ctibridge: {e}", file=sys.stderr)
        return 2
    agents = ", ".join(backend.logins())
    where = f"{settings.host}:{settings.port}"
    security = (
        "auth:    OFF (--insecure) - any program on this machine may act for any agent"
        if settings.auth.insecure
        else "auth:    tokens required (ctibridge token create --agent A --app NAME)"
    )
    journal = settings.journal.path or "memory (lost on restart)"
    if settings.cluster.redis_url:
        node = hub.cluster.node_id if hub.cluster is not None else ""
        journal = f"redis {_redacted(settings.cluster.redis_url)} (cluster node {node})"
    print(
        f"ctibridge: {settings.backend} backend, agents {agents}\n"
        f"  toolbar: http://{where}/  (open it in a browser; one page per agent)\n"
        f"  apps:    ws://{where}/ws?agent=agent1\n"
        f"  http:    http://{where}/agents\n"
        f"  {security}\n"
        f"  journal: {journal}",
        flush=True,
    )
    if settings.backend in ("streams", "hybrid"):
        print(f"  bridge:  http://{where}/bridge?agent=<login>", flush=True)
    serve(hub)
    return 0


def _redacted(url: str) -> str:
    """``url`` without its password (it goes to the console)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _cluster_hub(backend: Any, clock: Any, settings: Any) -> Any:
    """A hub that is a node of the cluster ``[cluster] redis_url`` names (None: no cluster)."""
    c = settings.cluster
    if not c.redis_url:
        return None
    import socket

    from .config import ConfigError
    from .hub import Hub

    try:
        from .cluster.node import ClusterNode, open_cluster_journal
    except ImportError as e:  # the redis client is an extra
        raise ConfigError(f"cluster mode needs the redis package: pip install "
                          f"'ctibridge[cluster]' ({e})") from None  # fmt: skip
    node_id = c.node_id or f"{socket.gethostname()}:{settings.port}"
    j = settings.journal
    journal = open_cluster_journal(c.redis_url, node_id, j.max_events, round(j.max_age_s * 1000))
    problem = journal.check()
    if problem is not None:  # a node starts from the journal: Redis must answer now
        raise ConfigError(f"Redis at {_redacted(c.redis_url)} does not answer ({problem})")
    hub = Hub(backend, clock, settings, journal=journal)
    ClusterNode(hub, c.redis_url, node_id, c.lease_ms)
    return hub


_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int | None:
    """``90``, ``90s``, ``15m``, ``8h``, ``30d`` -> seconds; ``never`` -> None (no expiry)."""
    if text == "never":
        return None
    match = _DURATION.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"not a duration: {text!r} (e.g. 3600, 15m, 8h, 30d, never)")
    return int(match[1]) * _UNITS[match[2]]


def _token_create(args: argparse.Namespace) -> int:
    from . import auth
    from .config import ConfigError, load_settings

    try:
        settings = load_settings(args.config, os.environ)
        ttl = settings.auth.default_ttl_s if args.ttl is None else parse_ttl(args.ttl)
        token = auth.issue(
            auth.check_secret(settings.auth.secret), args.agent, args.app, int(time.time()), ttl
        )
    except (ConfigError, ValueError) as e:
        print(f"ctibridge: {e}", file=sys.stderr)
        return 2
    if args.url is None:
        print(token)
        return 0
    # the token rides in the fragment: the browser never sends it, the page keeps it (auth.js)
    base = (args.url or f"http://{settings.host}:{settings.port}").rstrip("/")
    bridge = settings.backend in ("streams", "hybrid")
    for login in dict.fromkeys(args.agent):
        print(f"{base}/agent/{quote(login, safe='')}#token={token}")
        if bridge:  # the agent's Streams bridge page takes the same token
            print(f"{base}/bridge?agent={quote(login, safe='')}#token={token}")
    return 0


def _token_secret(args: argparse.Namespace) -> int:
    from . import auth

    print(auth.new_secret())
    return 0


def brief(message: dict[str, Any]) -> str:
    """One readable line for a message: what a person at a terminal wants to see."""
    seq = message.get("seq")
    head = f"#{seq:<3}" if isinstance(seq, int) else "    "
    topic, subtopic, body = message.get("topic"), message.get("subtopic"), message.get("message")
    if not isinstance(body, dict):
        return f"{head} {topic}/{subtopic}"
    if subtopic == "Error":
        return f"{head} {topic}/Error {body.get('type')}: {body.get('text')} ({body.get('code')})"
    call = body.get("call")
    if isinstance(call, dict):
        actual = call["ResponseActual"]
        on = [k for k, v in call["ButtonStates"]["items"].items() if v == "Enable"]
        number = actual.get("phoneNumber") or ""
        return (
            f"{head} {subtopic} {call['CallType']:<8} {number:<13} {call['event']:<10} "
            f"status={actual['status']:<12} buttons={','.join(on) or '-'}"
        )
    if subtopic in ("SetAgentState",):
        data, rules = body["data"], body["rules"]
        on = [k for k, v in rules["ButtonStates"]["items"].items() if v == "Enable"]
        nxt = data.get("nextState")
        extra = f" next={nxt['label']}" if isinstance(nxt, dict) else ""
        muted = " muted" if data.get("muted") else ""
        # the Connect state's name (the event), then the published state and the state type
        return (
            f"{head} Agent/SetAgentState {body['event']} ({data['state']}, {data['type']})"
            f"{extra}{muted} buttons={','.join(on) or '-'}"
        )
    if subtopic == "CcpAgentState":
        return f"{head} Agent/CcpAgentState {body.get('name')} ({body.get('type')})"
    if subtopic == "StateSync" and "calls" in body:
        calls = ", ".join(f"{c['type']}:{c['status']}" for c in body["calls"]) or "no call"
        return f"{head} {topic}/StateSync {calls}"
    if subtopic == "StateSync" or subtopic in ("LoginSuccess", "LogoutSuccess"):
        state = body.get("agentState") or {}
        label = state.get("label") or state.get("name") or "-"
        return f"{head} Agent/{subtopic} {body.get('loginState')} {label}"
    return f"{head} {topic}/{subtopic} {json.dumps(body, separators=(',', ':'))}"


def _printer(args: argparse.Namespace) -> Any:
    if getattr(args, "brief", False):
        return lambda message: print(brief(message), flush=True)
    return lambda message: print(json.dumps(message, separators=(",", ":")), flush=True)


async def _send(args: argparse.Namespace) -> int:
    from .client import Client

    try:
        message = json.loads(args.message)
    except json.JSONDecodeError as e:
        print(f"not JSON: {e}", file=sys.stderr)
        return 2
    if not isinstance(message, dict):
        print("the message must be a JSON object", file=sys.stderr)
        return 2
    async with await Client.connect(
        args.url, args.agent, source=args.source, token=args.token
    ) as client:
        data = message.get("data", msgspec.UNSET)
        kwargs = {} if data is msgspec.UNSET else {"data": data}
        result = await client.request(
            str(message.get("topic")), str(message.get("subtopic")), timeout=args.timeout, **kwargs
        )
        show = _printer(args)
        for event in result.events:
            show(event)
        return 0 if result.ok else 1


async def _tail(args: argparse.Namespace) -> int:
    from .client import Client

    client = await Client.connect(
        args.url, args.agent, source=args.source, sync=False, token=args.token
    )
    show = _printer(args)
    try:
        async for event in client.events():
            show(event)
    finally:
        await client.close()
    if client.close_code in CLOSE_HINTS:  # refused: an error (4404) or the close code says why
        hint = CLOSE_HINTS[client.close_code]
        print(f"ctibridge: {hint} ({client.close_reason})", file=sys.stderr)
        return 2
    print(f"connection closed ({client.close_code})", file=sys.stderr)
    return 0


SIM_ACTIONS = {
    "incoming": ("IncomingCall", "phoneNumber"),
    "hangup": ("CustomerHangup", None),
    "third-answer": ("ThirdPartyAnswer", None),
    "third-hangup": ("ThirdPartyHangup", None),
    "outbound": ("OutboundResult", "result"),
    "preview": ("PreviewCall", "phoneNumber"),
    "fail-next": ("FailNext", "subtopic"),
    "reset": ("Reset", None),
}


async def _sim(args: argparse.Namespace) -> int:
    from .client import Client

    subtopic, key = SIM_ACTIONS[args.action]
    data: dict[str, Any] = {}
    if key is not None:
        if args.value is None:
            print(f"sim {args.action} needs a value ({key})", file=sys.stderr)
            return 2
        data[key] = args.value
    if args.queue:
        data["queue"] = args.queue
    async with await Client.connect(
        args.url, args.agent, source=args.source, token=args.token
    ) as client:
        result = await client.request("Simulator", subtopic, data, timeout=args.timeout)
        show = _printer(args)
        for event in result.events:
            show(event)
        return 0 if result.ok else 1


def _schema(args: argparse.Namespace) -> int:
    from .protocol import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctibridge",
        description="Amazon Connect agent call control as one JSON message API (WebSocket/HTTP).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the hub", description="Run the hub (uvicorn).")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8765)")
    serve.add_argument(
        "--backend", choices=["sim", "streams", "connect", "hybrid"],
        help="where agents live: sim (default) = the embedded Amazon Connect simulator",
    )  # fmt: skip
    serve.add_argument(
        "--config", help="TOML configuration file ([auth], [limits], [journal], [audit], [log])"
    )
    serve.add_argument("--agents", type=int, help="simulator: number of demo agents (default 5)")
    serve.add_argument("--seed", type=int, default=None, help="simulator: seed for ids")
    serve.add_argument(
        "--insecure", action="store_true",
        help="no tokens: any local program may act for any agent (loopback hosts only)",
    )  # fmt: skip
    serve.add_argument("--journal", help="SQLite journal file (default: in memory)")
    serve.add_argument(
        "--cluster", metavar="redis://HOST:PORT/DB",
        help="run as a node of a cluster on this Redis (the journal lives there; no --journal)",
    )  # fmt: skip
    serve.add_argument("--node-id", help="this node's name in the cluster (default host:port)")
    serve.set_defaults(func=_serve)

    def client_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url", default=os.environ.get("CTIBRIDGE_URL", DEFAULT_URL),
            help=f"hub URL (default: $CTIBRIDGE_URL, else {DEFAULT_URL})",
        )  # fmt: skip
        p.add_argument("--agent", required=True, help="agent login, e.g. agent1")
        p.add_argument("--source", default="ctibridge-cli", help="the app name sent as source")
        p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait")
        p.add_argument(
            "--token", default=os.environ.get("CTIBRIDGE_TOKEN"),
            help="token for the agent (default: $CTIBRIDGE_TOKEN)",
        )  # fmt: skip
        p.add_argument(
            "--brief", action="store_true", help="one readable line per message instead of JSON"
        )

    send = sub.add_parser(
        "send",
        help="send one request, print the events it causes",
        description="Send one request (a JSON message; channel/source/requestId are filled in), "
        "print every event it causes as a JSON line; exit 1 when it fails.",
    )
    client_args(send)
    send.add_argument("message", help='e.g. \'{"topic":"InboundCall","subtopic":"Answer"}\'')
    send.set_defaults(func=_send, is_async=True)

    tail = sub.add_parser(
        "tail",
        help="print an agent's events as JSON lines",
        description="Connect as an app of the agent and print every message as a JSON line.",
    )
    client_args(tail)
    tail.set_defaults(func=_tail, is_async=True)

    sim = sub.add_parser(
        "sim",
        help="drive the embedded simulator",
        description="Drive the simulator: incoming NUMBER, hangup, third-answer, third-hangup, "
        "outbound answer|busy|noAnswer|failed, preview NUMBER, fail-next SUBTOPIC, reset.",
    )
    client_args(sim)
    sim.add_argument("action", choices=sorted(SIM_ACTIONS))
    sim.add_argument("value", nargs="?", help="phone number, result or subtopic")
    sim.add_argument("--queue", help="incoming: the queue the call comes through")
    sim.set_defaults(func=_sim, is_async=True)

    from .conform.command import add_parser as add_conform
    from .conform.command import conform

    add_conform(sub, conform)

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema",
        description="Print the JSON Schema of every message.",
    )
    schema.set_defaults(func=_schema)

    token = sub.add_parser(
        "token",
        help="make tokens for apps",
        description="Tokens let an app act for the agents they name (signed with the hub's "
        "secret: CTIBRIDGE_AUTH_SECRET or the config file's [auth]).",
    )
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser(
        "create",
        help="print a token for an app and its agents",
        description="Print a token that lets APP act for each --agent.",
    )
    create.add_argument(
        "--agent", action="append", required=True, help="an agent it may act for (repeatable)"
    )
    create.add_argument("--app", required=True, help="the app's name (in the audit log)")
    create.add_argument("--ttl", help="lifetime: 3600, 15m, 8h, 30d or never (default 24h)")
    create.add_argument("--config", help="TOML configuration file (for [auth] secret_file)")
    create.add_argument(
        "--url", nargs="?", const="", metavar="HUB",
        help="print the toolbar link of each agent, token included (HUB default: http://HOST:PORT "
        "of the config)",
    )  # fmt: skip
    create.set_defaults(func=_token_create)
    secret = token_sub.add_parser(
        "secret", help="print a new random secret", description="Print a new random secret."
    )
    secret.set_defaults(func=_token_secret)
    return parser


def _explain(e: Exception, url: str | None) -> str:
    """What went wrong talking to the hub, and the way out."""
    from websockets.exceptions import InvalidURI

    from .client import ClientClosed

    if isinstance(e, ClientClosed):
        if e.error is not None:  # the hub said why (unknown agent: which agents there are)
            body = e.error.get("message") or {}
            return f"{body.get('type')}: {body.get('code')}"
        hint = CLOSE_HINTS.get(e.code or 0)
        return f"{hint} ({e.code}: {e.reason})" if hint else str(e)
    if isinstance(e, ConnectionRefusedError) or (
        isinstance(e, OSError) and "Connect call failed" in str(e)
    ):
        return f"no hub at {url}: start one with `make run` or pass --url (or set CTIBRIDGE_URL)"
    if isinstance(e, InvalidURI):  # not ws://, wss://, http:// or https://
        return f"not a hub URL: {url} (e.g. ws://127.0.0.1:8765)"
    if isinstance(e, socket.gaierror):
        return f"no hub at {url}: its host name does not resolve (--url or CTIBRIDGE_URL)"
    if isinstance(e, TimeoutError):
        return f"no answer from the hub at {url} in time (--timeout)"
    return f"{type(e).__name__}: {e}"


def main(argv: list[str] | None = None) -> int:
    from websockets.exceptions import InvalidURI

    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "is_async", False):
            return int(asyncio.run(args.func(args)))
        return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (`ctibridge schema | head`): stop quietly, as shell tools do; the
        # interpreter's last flush of stdout would raise again, so point stdout at /dev/null.
        # Exit 0: the reader chose to stop, and `set -o pipefail` scripts must not fail on it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, TimeoutError, InvalidURI) as e:  # ClientClosed is a ConnectionError
        print(f"ctibridge: {_explain(e, getattr(args, 'url', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
