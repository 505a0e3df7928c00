"""The ``ctibridge conform`` subcommand."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from . import REVISION


def add_parser(sub: Any, func: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "conform",
        help="check an endpoint against the published message contract",
        description=f"Run the protocol revision {REVISION} conformance scenarios against the "
        "WebSocket endpoint at URL: driven (fully automatic) when it has the Simulator topic, "
        "else live (asks you for each step it cannot cause). --watch URL checks every message "
        "an agent's stream carries and prints only violations. Exit 0 only when all pass.",
    )
    p.add_argument(
        "url", nargs="?", default=os.environ.get("CTIBRIDGE_URL", "ws://127.0.0.1:8765"),
        help="the endpoint (default: $CTIBRIDGE_URL, else ws://127.0.0.1:8765)",
    )  # fmt: skip
    p.add_argument("--watch", metavar="URL", help="watch mode: lint the agent's live stream")
    p.add_argument("--agent", default="agent1", help="the agent to act for (default agent1)")
    p.add_argument(
        "--token", default=os.environ.get("CTIBRIDGE_TOKEN"),
        help="token for the agent (default: $CTIBRIDGE_TOKEN)",
    )  # fmt: skip
    p.add_argument("--only", action="append", metavar="NAME", help="run only this scenario")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--live", action="store_true", help="live mode even with a Simulator topic")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="live mode: seconds to wait for each step"
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(func=func, is_async=True)


async def conform(args: argparse.Namespace) -> int:
    from .scenarios import SCENARIOS

    if args.list:
        for e in SCENARIOS:
            print(f"{e.name:40} {e.doc}")
        return 0
    if args.watch:
        from .watch import watch

        args.url = args.watch
        found = await watch(args.watch, args.agent, args.token,
                            lambda line: print(line, flush=True))  # fmt: skip
        return 1 if found else 0
    from .report import junit, page
    from .runner import run, select

    try:
        select(args.only)
    except ValueError as e:
        print(f"ctibridge conform: {e}", file=sys.stderr)
        return 2
    mode, outcomes = await run(
        args.url, args.agent, args.token, args.only, live=True if args.live else None,
        timeout=args.timeout, report=lambda o: print(o.line(), flush=True),
    )  # fmt: skip
    failed = sum(o.status == "FAIL" for o in outcomes)
    passed = sum(o.status == "PASS" for o in outcomes)
    print(f"{passed} passed, {failed} failed, {len(outcomes) - passed - failed} skipped "
          f"({mode} mode, protocol revision {REVISION})")  # fmt: skip
    if args.junit:
        Path(args.junit).write_text(junit(outcomes, args.url, mode))
    if args.html:
        Path(args.html).write_text(page(outcomes, args.url, mode))
    return 1 if failed else 0
