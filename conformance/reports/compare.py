"""Compare two reports: the CI gate for numerics (``bce-conformance compare BASE NEW``).

A regression is any of:
- a verdict that got worse (``Verdict.rank``): pass -> convention or accepts_invalid ->
  fail/error (a fail that became an error, or the reverse, is a change of kind and is
  listed, not ranked);
- an error that grew by more than ``ERROR_GROWTH`` times (and by more than one ULP): a
  framework release that moves a result from 0.5 to 3 ULP is still a pass, but a change
  of that size in the same arithmetic means the arithmetic changed;
- a check of the base that has no verdict in the new report (it vanished, or the new run
  is incomplete): coverage lost silently would hide anything;
- a new check that fails or errors and is not a registered known bug.
New checks that conform, skips, and version changes between the two environments are
listed for the reader but do not fail the gate.

Checks are matched by id (adapter, device, dtype, case, reduction, quantity). Where a
merged report holds the same id from several machines, the machine is part of the key.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from conformance.reports.records import CheckRecord, Report
from conformance.vocabulary import Verdict

ERROR_GROWTH = 4.0
"""How much an error may grow before it is a regression. Errors within tolerance move by
up to about 2x between vectorised and scalar paths of the same formula (a different
summation order or FMA contraction); 4x, and more than 1 ULP, is a different formula."""


@dataclass
class ReportChanges:
    """What changed from the base report to the new one, check by check."""

    worse: list[tuple[str, Verdict, Verdict]] = field(default_factory=list)
    """(check, base verdict, new verdict)"""
    better: list[tuple[str, Verdict, Verdict]] = field(default_factory=list)
    changed_kind: list[tuple[str, Verdict, Verdict]] = field(default_factory=list)
    error_grew: list[tuple[str, float, float]] = field(default_factory=list)
    """(check, base error, new error), in ULPs"""
    vanished: list[str] = field(default_factory=list)
    new_failing: list[tuple[str, Verdict, str]] = field(default_factory=list)
    """(check, verdict, detail) of new checks that fail or error, unregistered"""
    new: int = 0
    now_skipped: list[tuple[str, str]] = field(default_factory=list)
    versions: list[tuple[str, str, str]] = field(default_factory=list)
    """(package, base version, new version)"""
    compared: int = 0

    @property
    def regressed(self) -> bool:
        return bool(self.worse or self.error_grew or self.vanished or self.new_failing)


def _keyed(report: Report) -> dict[str, CheckRecord]:
    counts = Counter(c.id for c in report.checks)
    return {(c.id if counts[c.id] == 1 else f"{c.id}@{c.machine}"): c for c in report.checks}


def compare_reports(base: Report, new: Report) -> ReportChanges:
    result = ReportChanges()
    old, now = _keyed(base), _keyed(new)
    for key, before in old.items():
        after = now.get(key)
        if after is None:
            result.vanished.append(key)
            continue
        result.compared += 1
        a, b = before.verdict, after.verdict
        rank_a, rank_b = a.rank, b.rank  # None: a skip
        if rank_b is None and rank_a is not None:
            result.now_skipped.append((key, after.detail))
        elif rank_a is not None and rank_b is not None and a != b:
            if rank_b > rank_a:
                result.worse.append((key, a, b))
            elif rank_b < rank_a:
                result.better.append((key, a, b))
            else:
                result.changed_kind.append((key, a, b))
        elif rank_a is None and after.is_finding:
            result.new_failing.append((key, b, after.detail))
        _error_growth(result, key, before, after)
    for key, after in now.items():
        if key in old:
            continue
        result.new += 1
        if after.is_finding:
            result.new_failing.append((key, after.verdict, after.detail))
    result.versions = _version_changes(base, new)
    return result


def _error_growth(result: ReportChanges, key: str, before: CheckRecord, after: CheckRecord) -> None:
    if before.verdict != after.verdict:
        return  # already listed as a verdict change
    a, b = before.error_ulps, after.error_ulps
    if a is None or b is None or math.isnan(b):
        return
    if b > ERROR_GROWTH * max(a, 1.0) and b - a > 1.0:
        result.error_grew.append((key, a, b))


def _packages(report: Report) -> dict[str, str]:
    """Package versions over every machine of a report ("a / b" where machines differ)."""
    seen: dict[str, set[str]] = {}
    for environment in report.machines.values():
        for name, version in environment["packages"].items():
            seen.setdefault(name, set()).add(version)
    return {name: " / ".join(sorted(v)) for name, v in seen.items()}


def _version_changes(base: Report, new: Report) -> list[tuple[str, str, str]]:
    a, b = _packages(base), _packages(new)
    return [
        (name, a.get(name, "-"), b.get(name, "-"))
        for name in sorted(set(a) | set(b))
        if a.get(name) != b.get(name)
    ]


def render(result: ReportChanges, limit: int = 50) -> str:
    """The comparison as text a person reads in a CI log."""
    lines = [
        f"compared {result.compared} checks present in both reports; "
        f"{result.new} new, {len(result.vanished)} vanished"
    ]
    if result.versions:
        lines.append("versions changed:")
        lines.extend(f"  {name}: {a} -> {b}" for name, a, b in result.versions)

    def section(title: str, rows: list[str]) -> None:
        if not rows:
            return
        lines.append(f"{title} ({len(rows)}):")
        lines.extend(f"  {row}" for row in rows[:limit])
        if len(rows) > limit:
            lines.append(f"  ... {len(rows) - limit} more")

    section("REGRESSION verdict worse", [f"{k}: {a} -> {b}" for k, a, b in result.worse])
    section(
        f"REGRESSION error grew more than {ERROR_GROWTH:g}x",
        [f"{k}: {a:.3g} -> {b:.3g} ULP" for k, a, b in result.error_grew],
    )
    section("REGRESSION vanished (no verdict in the new report)", result.vanished)
    section(
        "REGRESSION new check failing, not a registered known bug",
        [f"{k}: {v}: {d}" for k, v, d in result.new_failing],
    )
    section("changed kind", [f"{k}: {a} -> {b}" for k, a, b in result.changed_kind])
    section("better", [f"{k}: {a} -> {b}" for k, a, b in result.better])
    section("now skipped", [f"{k}: {reason}" for k, reason in result.now_skipped])
    lines.append("REGRESSED" if result.regressed else "no regression")
    return "\n".join(lines)
