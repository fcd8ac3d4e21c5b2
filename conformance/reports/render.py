"""A report rendered in one of the formats people read: text, Markdown or HTML."""

from __future__ import annotations

from typing import Any

from conformance.reports import html, markdown
from conformance.reports.repro import Reproducers
from conformance.reports.table import summary_table

REPORT_FORMATS = ("text", "markdown", "html")


def render_report(report: dict[str, Any], fmt: str) -> str:
    if fmt == "html":
        return html.render(report, Reproducers(report))
    if fmt == "markdown":
        return markdown.render(report, Reproducers(report))
    return summary_table(report) + "\n"
