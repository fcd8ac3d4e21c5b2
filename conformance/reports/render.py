"""A report rendered in one of the formats people read: text, Markdown or HTML."""

from __future__ import annotations

from conformance.reports import html, markdown
from conformance.reports.records import Report
from conformance.reports.repro import Reproducers
from conformance.reports.table import summary_table

REPORT_FORMATS = ("text", "markdown", "html")


def render_report(report: Report, fmt: str, reproducers: Reproducers | None = None) -> str:
    """``reproducers``: pass one to share its loaded cases and adapters between formats."""
    if fmt == "text":
        return summary_table(report) + "\n"
    reproducers = reproducers or Reproducers(report)
    if fmt == "html":
        return html.render(report, reproducers)
    return markdown.render(report, reproducers)
