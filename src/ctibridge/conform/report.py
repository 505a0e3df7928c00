"""The run's reports: JUnit XML for CI and one self-contained HTML page (inline CSS, no
scripts, nothing fetched)."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from . import REVISION
from .runner import Outcome


def junit(outcomes: list[Outcome], url: str, mode: str) -> str:
    failures = sum(o.status == "FAIL" for o in outcomes)
    skipped = sum(o.status == "SKIP" for o in outcomes)
    suite = ET.Element("testsuite", name=f"ctibridge conform (protocol revision {REVISION})",
                       tests=str(len(outcomes)), failures=str(failures), errors="0",
                       skipped=str(skipped),
                       time=f"{sum(o.seconds for o in outcomes):.3f}")  # fmt: skip
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="endpoint", value=url)
    ET.SubElement(props, "property", name="mode", value=mode)
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"conform.rev{REVISION}", name=o.name,
                             time=f"{o.seconds:.3f}")  # fmt: skip
        if o.status == "FAIL":
            node = ET.SubElement(case, "failure", message=o.details[0] if o.details else "")
            node.text = "\n".join(o.details)
        elif o.status == "SKIP":
            ET.SubElement(case, "skipped", message="; ".join(o.details))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode")


STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24;
padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .25rem}.meta{color:#57606a;margin:0 0 1.25rem}
.sum span{display:inline-block;margin-right:1rem;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.45rem .6rem;
border-bottom:1px solid #d0d7de;vertical-align:top}th{background:#f6f8fa}
.PASS{color:#116329}.FAIL{color:#a40e26}.SKIP{color:#7d4e00}
.st{font-weight:700;white-space:nowrap}.t{white-space:nowrap}.doc{color:#57606a}
pre{background:#fff1f0;border-left:3px solid #a40e26;padding:.5rem .7rem;margin:.4rem 0 0;
white-space:pre-wrap;font:13px/1.4 ui-monospace,monospace}
details{margin-top:.3rem;color:#57606a;font-size:13px}
"""


def page(outcomes: list[Outcome], url: str, mode: str) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("PASS", "FAIL", "SKIP")}
    rows = []
    for o in outcomes:
        detail = f"<pre>{html.escape(chr(10).join(o.details))}</pre>" if o.details else ""
        steps = "".join(f"<li>{html.escape(s)}</li>" for s in o.steps)
        rows.append(
            f'<tr><td class="st {o.status}">{o.status}</td><td><b>{html.escape(o.name)}</b>'
            f'<div class="doc">{html.escape(o.doc)}</div>{detail}'
            + (f"<details><summary>{len(o.steps)} steps</summary><ol>{steps}</ol></details>"
               if o.steps else "")
            + f"</td><td class=\"t\">{o.seconds:.2f} s</td></tr>"
        )  # fmt: skip
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>ctibridge conform: {html.escape(url)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Conformance of {html.escape(url)}</h1>"
        f'<p class="meta">protocol revision {REVISION} · {mode} mode · {when}</p>'
        f'<p class="sum"><span class="PASS">{counts["PASS"]} passed</span>'
        f'<span class="FAIL">{counts["FAIL"]} failed</span>'
        f'<span class="SKIP">{counts["SKIP"]} skipped</span></p>'
        "<table><thead><tr><th>result</th><th>scenario</th><th>time</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    )
