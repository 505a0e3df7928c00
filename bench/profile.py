"""Profile a saturated hub with py-spy: where does the server's CPU go per command?

    python -m bench.profile [--apps 1] [--seconds 10] [--journal none] [--tag after]
                            [--out bench/results]

Starts ``bench.server --mode hub`` (100 agents, the given journal), drives it at saturation with
the load generator and samples the server process with ``py-spy record`` (raw format) meanwhile.
Writes the raw samples and a summary (inclusive and self share of the samples per function)
to ``profile-<apps>app[-<journal>][-<tag>].txt``.  Needs py-spy (the ``bench`` extra) and ptrace
rights (root).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

import uvloop

from .generator import open_fleet
from .run import HOST, ROOT, saturate, server

_PATHS = re.compile(r"/\S*?/(site-packages|src|lib/python3\.\d+)/")


def _name(frame: str) -> str:
    return re.sub(r":\d+\)", ")", _PATHS.sub("", frame))


def summarise(raw: Path, top: int = 40) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = [_name(f) for f in stack.split(";")]
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n
    lines = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"--- {title}")
        for name, n in counter.most_common(top):
            lines.append(f"{100 * n / total:5.1f}% {name}")
    return "\n".join(lines) + "\n"


async def profile(apps: int, seconds: float, out: Path, journal: str, tag: str) -> Path:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    name = f"profile-{apps}app" + (f"-{journal}" if journal != "none" else "")
    name += f"-{tag}" if tag else ""
    raw = out / f"{name}.raw"
    async with server("hub", 100, journal) as srv:
        fleet = await open_fleet(HOST, srv.port, 100, apps)
        await fleet.configure()
        record = subprocess.Popen(
            [spy, "record", "-p", str(srv.pid), "-d", str(int(seconds) + 2), "-r", "500",
             "-f", "raw", "-o", str(raw), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        result = await saturate(fleet, srv, 1, seconds)
        await asyncio.to_thread(record.wait)
        await fleet.close()
    keys = ("commands_per_s", "events_per_s", "server_cpu_us_per_command", "other_cpu_util")
    head = ", ".join(f"{k} {result[k]}" for k in keys)
    summary = out / f"{name}.txt"
    what = f"hub, 100 agents x {apps} app(s), journal {journal}, saturation"
    summary.write_text(f"{what}: {head}\n" + summarise(raw))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--apps", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--journal", default="none", help="none | memory | sqlite")
    parser.add_argument("--tag", default="", help="appended to the file names (before, after)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = uvloop.run(profile(args.apps, args.seconds, out, args.journal, args.tag))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
