"""A report rendered in one of the formats people read: text, Markdown or HTML."""

from __future__ import annotations

from typing import Any

from conformance.reports import html, markdown
from conformance.reports.table import summary_table

REPORT_FORMATS = ("text", "markdown", "html")


def render_report(report: dict[str, Any], fmt: str) -> str:
    if fmt == "html":
        return html.render(report, _no_reproducer)
    if fmt == "markdown":
        return markdown.render(report, _no_reproducer)
    return summary_table(report) + "\n"


def _no_reproducer(check: dict[str, Any]) -> str | None:
    return None
