"""The HTML report: one self-contained file that works offline.

Server side, jinja2 renders the summary, the plots (inline SVG from ``plots``) and the
lists of findings with autoescaping on. The matrix (adapters x cases, with filters and a
detail pane per cell) is built in the browser from the checks embedded as JSON; the
script only ever sets ``textContent``, never markup, and a link is made a link only when
it is http(s). The embedded JSON escapes ``<``, ``>`` and ``&`` so no string in it can
close the script element. Together: a case id or description holding ``<script>`` or
``<img onerror=...>`` is shown as text and runs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from conformance.reports import plots
from conformance.reports.document import VERDICTS, from_json_float, json_float, unexplained

TEMPLATES = Path(__file__).with_name("templates")
IDENTITY = ("id", "adapter", "framework", "machine", "device", "dtype", "reduction", "quantity",
            "case", "verdict")  # fmt: skip


def render(report: dict[str, Any], reproducer: Callable[[dict[str, Any]], str | None]) -> str:
    """The page; ``reproducer(check)`` gives the snippet shown for a non-passing check."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        report=report,
        verdicts=VERDICTS,
        dtypes=_dtypes(report),
        unexplained=unexplained(report),
        plots={  # matplotlib SVG, text drawn as paths: markup made here, not from the report
            "Error against logit magnitude": plots.error_vs_logit(report),
            "Error against probability near 0 and 1": plots.error_vs_probability(report),
            "Verdict heatmap": plots.verdict_heatmap(report),
        },
        data=_embedded_json(_page_data(report, reproducer)),
        script=(TEMPLATES / "report.js").read_text(encoding="utf-8"),
        style=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )


def _dtypes(report: dict[str, Any]) -> list[str]:
    seen = {d for s in report["summary"].values() for q in s["worst_ulps"].values() for d in q}
    return [d for d in plots.DTYPE_PANELS if d in seen]


def _page_data(
    report: dict[str, Any], reproducer: Callable[[dict[str, Any]], str | None]
) -> dict[str, Any]:
    """What the script needs: the checks (skips without their repeated reasons) and
    reproducers for every check that did not pass."""
    checks = []
    for check in report["checks"]:
        record = {k: check[k] for k in IDENTITY}
        if check["verdict"] != "skip":
            error = from_json_float(check["error_ulps"])
            record.update(
                error=None if error is None else json_float(float(f"{error:.4g}")),
                raw_error=check["error_ulps"],
                relative_error=check["relative_error"],
                tolerance=check["tolerance_ulps"],
                conventions=check["conventions"],
                detail=check["detail"],
                known_bug=check["known_bug"],
                values=check["values"],
            )
            if check["verdict"] != "pass":
                record["reproducer"] = reproducer(check)
        checks.append(record)
    return {
        "checks": checks,
        "cases": report["cases"],
        "adapters": {name: info.get("api", "") for name, info in report["adapters"].items()},
        "verdicts": VERDICTS,
    }


def _embedded_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' literally."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
