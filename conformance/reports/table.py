"""The fixed-width summary printed at the end of a run: one row per adapter, then where
each run's time went, per framework."""

from __future__ import annotations

from typing import Any

from adapters.calls import DTYPES
from conformance.reports.records import Report
from conformance.vocabulary import Quantity, Verdict


def summary_table(report: Report) -> str:
    """Verdict counts, known bugs, the share that conforms and the worst errors per adapter,
    then each run's time and memory, and whether the report is complete."""
    summary = report.summary
    summaries = summary.values()
    columns = [(q.value, d) for q in Quantity for d in DTYPES
               if any(d in s["worst_ulps"].get(q.value, {}) for s in summaries)]  # fmt: skip
    verdicts = [v.value for v in Verdict]
    header = ["adapter", *verdicts, "known", "conform", *(f"{q} {d}" for q, d in columns)]
    rows = [header]
    for name in report.adapters:
        s = summary.get(name)
        if s is None:
            continue
        worst = s["worst_ulps"]
        percent = s["conforming_percent"]
        rows.append(
            [
                name,
                *(str(s[v]) for v in verdicts),
                str(s["known_bug"]),
                "-" if percent is None else f"{percent:.1f}%",
                *(f"{worst[q][d]:.3g}" if d in worst.get(q, {}) else "-" for q, d in columns),
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
    lines.append("(conform: pass + convention, of the checks that ran; last columns: worst error")
    lines.append(" in ULPs among passing checks; gradients in ULPs of their two terms' size, or of")
    lines.append(" the gradient itself where the target is 0 or 1)")
    lines.append("")
    for run in report.runs:
        lines.extend(time_table(run))
    lines.extend(_run_line(run) for run in report.runs)
    if not report.complete:
        lines.append(
            f"INCOMPLETE: {report.missing_count} planned check(s) did not run; "
            "see 'missing' in the report"
        )
    return "\n".join(lines)


TIME_COLUMNS = ("import", "compile", "framework", "reference", "judging", "overhead")


def time_table(run: dict[str, Any]) -> list[str]:
    """Seconds per framework, summed over the workers: importing it, compiling, its calls,
    the reference, the suite's verdicts, and the overhead the supervisor saw beyond that
    (worker start-up, the pipe); then how busy the CPUs were. Empty for a run that has no
    breakdown (a report from before it existed)."""
    parts = run["timing"].get("by_framework")
    if not parts:
        return []
    header = ["seconds", *TIME_COLUMNS, "total"]
    rows = [header]
    for framework, seconds in parts.items():
        values = [seconds.get(f"{c}_s", 0.0) for c in TIME_COLUMNS]
        rows.append([framework, *(f"{v:.1f}" for v in values), f"{sum(values):.1f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        )
        for r in rows
    ]
    timing = run["timing"]
    if "cpu_s" in timing:
        lines.append(
            f"CPU time {timing['cpu_s']:.1f} s of {timing['cores']} cores x "
            f"{timing['wall_s']:.1f} s wall: {timing['cpu_busy_percent']:.0f}% busy; worker "
            f"slots without a check: {timing.get('idle_worker_s', 0.0):.1f} s of "
            f"{run['options'].get('jobs', 1)} x {timing['wall_s']:.1f} s"
        )
    lines.append("")
    return lines


def _run_line(run: dict[str, Any]) -> str:
    t = run["timing"]
    text = f"{run['machine']}: {t['checks']} checks in {t['wall_s']:.1f} s wall"
    if "reference_s" in t:
        text += (
            f" (reference {t['reference_s']:.1f} s, frameworks {t['framework_s']:.1f} s, "
            f"compilation {t['compile_s']:.1f} s, summed over "
            f"{run['options'].get('jobs', 1)} process(es))"
        )
    if "tree_peak_rss_mib" in t:
        summed = t.get("main_peak_rss_mib", 0.0) + t.get("workers_peak_rss_mib", 0.0)
        text += (
            f"; peak memory {t['tree_peak_rss_mib']:.0f} MiB (all processes together, "
            f"sampled; their separate peaks sum to {summed:.0f} MiB)"
        )
    return text
