"""The HTML report: one self-contained file that works offline.

Server side, jinja2 renders the summary, the plots (inline SVG from ``plots``) and the
lists of findings with autoescaping on. The matrix (adapters x cases, with filters and a
detail pane per cell) is built in the browser from the checks embedded as JSON; the
script only ever sets ``textContent``, never markup, and a link is made a link only when
it is http(s). The embedded data is base64, so no string in it can close the script
element. Together: a case id or description holding ``<script>`` or
``<img onerror=...>`` is shown as text and runs nothing.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from conformance.reports import plots
from conformance.reports.records import CheckRecord, Report, json_float
from conformance.vocabulary import Verdict

TEMPLATES = Path(__file__).with_name("templates")
FIELDS = ("adapter", "framework", "machine", "device", "dtype", "reduction", "quantity", "case",
          "verdict")  # fmt: skip
"""A check's identity as indices into one table per field (its id is rebuilt from them)."""


def render(report: Report, reproducer: Callable[[CheckRecord], str | None]) -> str:
    """The page; ``reproducer(check)`` gives the snippet shown for a non-passing check."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("report.html.j2")
    summary = report.summary
    return template.render(
        report=report,
        summary=summary,
        verdicts=[v.value for v in Verdict],
        dtypes=_dtypes(summary),
        unexplained=report.unexplained,
        plots={  # matplotlib SVG, text drawn as paths: markup made here, not from the report
            "Error against logit magnitude": plots.error_vs_logit(report),
            "Error against probability near 0 and 1": plots.error_vs_probability(report),
            "Verdict heatmap": plots.verdict_heatmap(report),
        },
        data=_embedded_json(_page_data(report, reproducer)),
        script=(TEMPLATES / "report.js").read_text(encoding="utf-8"),
        style=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )


def _dtypes(summary: dict[str, dict[str, Any]]) -> list[str]:
    seen = {d for s in summary.values() for q in s["worst_ulps"].values() for d in q}
    return [d for d in plots.DTYPE_PANELS if d in seen]


def _page_data(report: Report, reproducer: Callable[[CheckRecord], str | None]) -> dict[str, Any]:
    """What the script needs, compactly (the full profile has 60,000 checks): each check is
    a row of indices into the shared tables (``FIELDS``), plus, for a check that ran, its
    error, detail and registry entry; values and a reproducer for every check that did not
    pass (a passing check's values are in the JSON report)."""
    tables: dict[str, list[str]] = {field: [] for field in FIELDS}
    index: dict[str, dict[str, int]] = {field: {} for field in FIELDS}
    rows = []
    for check in report.checks:
        identity = _identity(check)
        row: list[Any] = []
        for field in FIELDS:
            value = identity[field]
            if value not in index[field]:
                index[field][value] = len(tables[field])
                tables[field].append(value)
            row.append(index[field][value])
        if check.verdict.ran:
            row.append(_ran(check, reproducer))
        rows.append(row)
    return {
        "fields": list(FIELDS),
        "tables": tables,
        "checks": rows,
        "cases": report.cases,
        "apis": {name: info.get("api", "") for name, info in report.adapters.items()},
    }


def _identity(check: CheckRecord) -> dict[str, str]:
    """The check's ``FIELDS``, spelt as in the JSON report."""
    return {
        **check.key.fields(),
        "framework": check.framework,
        "machine": check.machine,
        "verdict": check.verdict.value,
    }


def _ran(check: CheckRecord, reproducer: Callable[[CheckRecord], str | None]) -> dict:
    error = check.error_ulps
    extra: dict[str, Any] = {
        "error": None if error is None else json_float(float(f"{error:.4g}")),
        "raw_error": json_float(error),
        "relative_error": json_float(check.relative_error),
        "tolerance": json_float(check.tolerance_ulps),
        "conventions": check.conventions,
        "detail": check.detail,
        "known_bug": check.known_bug,
    }
    if check.verdict is not Verdict.PASS:
        extra["values"] = check.values
        extra["reproducer"] = reproducer(check)
    return extra


def _embedded_json(data: Any) -> str:
    """The page data as gzip-compressed JSON in base64: the browser inflates it with its
    built-in DecompressionStream. The full profile's data (24.8 MB of JSON, most of it the
    reproducers' input arrays, the same arrays over and over) becomes 3.5 MB, and base64
    holds no character that could close the script element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode()
