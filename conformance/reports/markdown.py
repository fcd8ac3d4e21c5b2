"""The Markdown summary: for a CI job summary or a pull-request comment.

Per adapter the share of checks that conform, the fails and errors no registry entry
explains (each with its detail and, where the adapter can write one, its reproducer),
the disagreements (between devices or machines in a merged report, and between an eager
API and its traced or compiled mode: ``conformance/reports/disagreements.py``), and
whether the report is complete. Text from the report is escaped: GitHub renders HTML
inside Markdown, and a case id is user input.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from conformance.reports.records import CheckRecord, Report
from conformance.vocabulary import Verdict

MAX_LISTED = 50
"""Unexplained checks shown in full; the rest are counted (a comment has a size limit)."""


def escape(text: str) -> str:
    """Text safe in a Markdown table cell or paragraph: no HTML, no table breaks."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def render(report: Report, reproducer: Callable[[CheckRecord], str | None]) -> str:
    """The summary; ``reproducer(check)`` gives a check's snippet or None."""
    status = "complete" if report.complete else "**INCOMPLETE**"
    found = report.unexplained
    lines = [
        "# BCE conformance",
        "",
        f"{len(report.checks)} checks, {status}; "
        f"{len(found)} unexplained fail(s) or error(s); "
        f"{len(report.findings)} disagreement(s) between devices, machines or modes.",
        "",
        _machines(report),
        "",
        "| adapter | conform | " + " | ".join(v.value for v in Verdict) + " | known bugs |",
        "|---|---:|" + "---:|" * len(Verdict) + "---:|",
    ]
    for name, s in report.summary.items():
        percent = "-" if s["conforming_percent"] is None else f"{s['conforming_percent']:.1f}%"
        counts = " | ".join(str(s[v.value]) for v in Verdict)
        lines.append(f"| `{escape(name)}` | {percent} | {counts} | {s['known_bug']} |")
    lines += ["", "conform: pass + convention, of the checks that ran (skips excluded)."]
    if found:
        lines += ["", f"## Unexplained fails and errors ({len(found)})", ""]
        for check in found[:MAX_LISTED]:
            lines += _finding(check, reproducer(check))
        if len(found) > MAX_LISTED:
            lines.append(f"... and {len(found) - MAX_LISTED} more in the JSON report.")
    if report.findings:
        lines += ["", f"## Disagreements: devices, machines, modes ({len(report.findings)})"]
        lines.append("")
        for finding in report.findings[:MAX_LISTED]:
            lines.append(f"- **{finding['kind']}** `{escape(finding['check'])}`: "
                         f"{escape(finding['detail'])}")  # fmt: skip
    if not report.complete:
        lines += ["", f"## Missing checks ({report.missing_count})", ""]
        for reason, ids in report.missing.items():
            lines.append(f"- {len(ids)}: {escape(reason)}")
    for note in report.merge_notes:
        lines += ["", f"> note: {escape(note)}"]
    return "\n".join(lines) + "\n"


def _machines(report: Report) -> str:
    parts = []
    for label, env in report.machines.items():
        packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
        commit = (env["suite"]["commit"] or "")[:10]
        gpu = "; ".join(g["name"] for g in env["gpus"]) or "no GPU"
        parts.append(
            f"- `{escape(label)}`: {escape(env['cpu']['model'])}, {gpu}; Python "
            f"{env['python']}; {escape(packages)}; suite {commit or 'not from git'}"
        )
    return "\n".join(parts)


def _finding(check: CheckRecord, snippet: str | None) -> list[str]:
    lines = [
        f"### `{escape(check.id)}`",
        "",
        f"**{check.verdict}**: {escape(check.detail)}",
        "",
    ]
    if snippet:
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall("`+", snippet)), default=0))
        lines += ["<details><summary>reproducer</summary>", "", f"{fence}python", snippet,
                  fence, "", "</details>", ""]  # fmt: skip
    return lines
