"""``ctibridge`` — serve the hub, or talk to one from the shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

import msgspec

from .settings import Settings

DEFAULT_URL = "ws://127.0.0.1:8765"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .backends.sim import SimBackend
    from .clock import RealClock
    from .hub import Hub, create_app
    from .hub.transport import CorkedWebSocketProtocol

    settings = Settings(
        host=args.host, port=args.port, backend=args.backend, sim_seed=args.seed,
        sim_agents=args.agents,
    )  # fmt: skip
    if settings.backend != "sim":
        print(f"backend {settings.backend!r} is not available in this build", file=sys.stderr)
        return 2
    clock = RealClock()
    backend = SimBackend(clock, seed=settings.sim_seed, agents=settings.sim_agents)
    hub = Hub(backend, clock, settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    agents = ", ".join(backend.logins())
    print(
        f"ctibridge: {settings.backend} backend, agents {agents}\n"
        f"  apps:   ws://{settings.host}:{settings.port}/ws?agent=agent1\n"
        f"  http:   http://{settings.host}:{settings.port}/agents",
        flush=True,
    )
    uvicorn.run(
        create_app(hub),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws_max_size=1 << 20,  # frames over 64 KiB still reach the hub and get FRAME_TOO_LARGE
        ws=CorkedWebSocketProtocol,  # one socket write per connection per loop tick
    )
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
        return (
            f"{head} Agent/SetAgentState {data['state']} ({data['type']}){extra}{muted} "
            f"buttons={','.join(on) or '-'}"
        )
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
    async with await Client.connect(args.url, args.agent, source=args.source) as client:
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

    client = await Client.connect(args.url, args.agent, source=args.source, sync=False)
    show = _printer(args)
    try:
        async for event in client.events():
            show(event)
    finally:
        await client.close()
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
    async with await Client.connect(args.url, args.agent, source=args.source) as client:
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
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=int, default=8765, help="TCP port")
    serve.add_argument(
        "--backend", default="sim", choices=["sim", "streams", "connect", "hybrid"],
        help="where agents live: sim = the embedded Amazon Connect simulator",
    )  # fmt: skip
    serve.add_argument("--config", help="TOML configuration file (Amazon Connect backends)")
    serve.add_argument("--agents", type=int, default=5, help="simulator: number of demo agents")
    serve.add_argument("--seed", type=int, default=None, help="simulator: seed for ids")
    serve.set_defaults(func=_serve)

    def client_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=DEFAULT_URL, help=f"hub URL (default {DEFAULT_URL})")
        p.add_argument("--agent", required=True, help="agent login, e.g. agent1")
        p.add_argument("--source", default="ctibridge-cli", help="the app name sent as source")
        p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait")
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

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema",
        description="Print the JSON Schema of every message.",
    )
    schema.set_defaults(func=_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "is_async", False):
            return int(asyncio.run(args.func(args)))
        return int(args.func(args))
    except (OSError, TimeoutError) as e:
        print(f"ctibridge: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
