"""The run report: a JSON document for machines and a summary table for people.

The JSON is written atomically (a temporary file in the same folder, then ``os.replace``),
so an interrupted run never leaves a half-written report, and an earlier report is only
replaced by a complete document. A run stopped early, or one whose checks did not all run,
still writes a valid report, marked ``"complete": false``, with the checks that have no
verdict listed under ``missing`` by reason.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from adapters.base import DTYPES, Adapter
from conformance.cases import CaseError
from conformance.matrix import Check, CheckResult
from conformance.supervisor import RunOutcome
from conformance.verdicts import Verdict

SCHEMA_VERSION = 1
VERDICTS = [v.value for v in Verdict]
DTYPE_ORDER = list(DTYPES)


def build_report(
    outcome: RunOutcome,
    *,
    planned: int,
    adapters: Sequence[Adapter],
    case_errors: Iterable[CaseError],
    load_problems: Iterable[Any],
    options: dict[str, Any],
    timing: dict[str, float],
) -> dict[str, Any]:
    results = outcome.results
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "complete": outcome.complete,
        "planned_checks": planned,
        "interrupted": outcome.interrupted,
        "missing": _missing(outcome.missing),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processors": os.cpu_count(),
        },
        "options": options,
        "timing": {**{k: round(v, 3) for k, v in timing.items()}, "checks": len(results)},
        "adapters": {a.name: _adapter_info(a) for a in adapters},
        "summary": summarise(results),
        "case_errors": [str(e) for e in case_errors],
        "adapter_load_problems": [f"{p.source}: {p.message}" for p in load_problems],
        "checks": [r.to_json() for r in results],
    }


def _missing(missing: Sequence[tuple[Check, str]]) -> dict[str, Any]:
    """Checks without a verdict, grouped by the reason (one reason can cover thousands)."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for check, reason in missing:
        by_reason[reason].append(check.id)
    return {"count": len(missing), "by_reason": dict(by_reason)}


def _adapter_info(adapter: Adapter) -> dict[str, Any]:
    """What the report says of an adapter; a third-party adapter whose own methods raise
    here is described by that error instead of stopping the report."""
    try:
        return _describe_adapter(adapter)
    except Exception as exc:
        return {"framework": str(getattr(adapter, "framework", "")),
                "error": f"{type(exc).__name__}: {exc}"[:500]}  # fmt: skip


def _describe_adapter(adapter: Adapter) -> dict[str, Any]:
    return {
        "framework": adapter.framework,
        "version": adapter.version(),
        "api": adapter.api,
        "forms": sorted(adapter.forms),
        "unavailable": adapter.available(),
        "conventions": adapter.conventions.names(),
        "raises_on_invalid_probability": adapter.conventions.checks_probability_range,
        "sources": list(adapter.conventions.sources),
    }


def summarise(results: Iterable[CheckResult]) -> dict[str, dict[str, Any]]:
    """Per adapter: verdict counts, known bugs among the fails, and the worst ULP error per
    quantity (value, grad) and dtype among passing checks (a convention's error against the
    mathematics is unbounded by design, and a fail's is in its detail)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    worst: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        name = r.check.adapter.name
        counts[name][r.verdict.value] += 1
        if r.known_bug is not None:
            counts[name]["known_bug"] += 1
        error = r.judgement.error_ulps
        if error is not None and r.verdict is Verdict.PASS:
            by_dtype = worst[name]["grad" if r.check.grad else "value"]
            by_dtype[r.check.dtype] = max(by_dtype.get(r.check.dtype, 0.0), error)
    return {
        name: {
            **{v: counts[name][v] for v in VERDICTS},
            "known_bug": counts[name]["known_bug"],
            "worst_ulps": {
                quantity: {d: round(e, 3) for d, e in sorted(worst[name][quantity].items())}
                for quantity in ("value", "grad")
            },
        }
        for name in counts
    }


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, allow_nan=False)
            handle.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary_table(report: dict[str, Any]) -> str:
    """A fixed-width table: one row per adapter, verdict counts and worst errors."""
    columns = sorted(
        {(q, d) for s in report["summary"].values() for q in ("value", "grad")
         for d in s["worst_ulps"][q]},
        key=lambda qd: (qd[0] != "value", DTYPE_ORDER.index(qd[1])),
    )  # fmt: skip
    header = ["adapter", *VERDICTS, "known", *(f"{q} {d}" for q, d in columns)]
    rows = [header]
    for name in report["adapters"]:
        s = report["summary"].get(name)
        if s is None:
            continue
        worst = s["worst_ulps"]
        rows.append(
            [
                name,
                *(str(s[v]) for v in VERDICTS),
                str(s["known_bug"]),
                *(f"{worst[q][d]:.3g}" if d in worst[q] else "-" for q, d in columns),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("(last columns: worst error in ULPs among passing checks; gradients in ULPs of")
    lines.append(" the size of their two terms)")
    t = report["timing"]
    summed = t["main_peak_rss_mib"] + t.get("workers_peak_rss_mib", 0.0)
    lines.append("")
    lines.append(
        f"{t['checks']} checks in {t['wall_s']:.1f} s wall "
        f"(reference {t['reference_s']:.1f} s, frameworks {t['framework_s']:.1f} s, "
        f"compilation {t['compile_s']:.1f} s, summed "
        f"over {report['options']['jobs']} process(es)); peak memory {t['tree_peak_rss_mib']:.0f}"
        f" MiB (all processes together, sampled; their separate peaks sum to {summed:.0f} MiB)"
        + (
            ""
            if report["complete"]
            else f"  [INCOMPLETE: {report['missing']['count']} planned "
            "check(s) did not run; see 'missing' in the report]"
        )
    )
    return "\n".join(lines)
