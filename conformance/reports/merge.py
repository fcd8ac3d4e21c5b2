"""Join reports from several machines or shards into one (``bce-conformance merge``).

A CI matrix runs one job per runner, framework or framework version; merging their
reports gives one document, as if one run had covered them all. Every check keeps the
machine it came from (its ``machine`` label names an entry of ``machines``), so nothing
about where a result was produced is lost.

Rules:
- every input must be a valid report of this schema version (``document.load_report``
  refuses others);
- their case files must be the same (equal ``cases_sha256``): verdicts on different inputs
  under the same case id cannot be joined. ``allow_different_cases`` joins them anyway and
  says so in ``merge_notes``; different known-bug registries are always noted there;
- two machines with the same label but different environments are told apart
  (``host#2``); the same check from the same machine twice keeps the first and is a
  ``duplicate-check`` finding;
- the same check (adapter, dtype, case, reduction, quantity) on two devices or machines is
  compared, and so is a compiled or traced mode with its eager API
  (``conformance/reports/disagreements.py``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from conformance.reports.disagreements import disagreements, mode_disagreements
from conformance.reports.document import ReportError
from conformance.reports.records import CheckRecord, Report


def merge_reports(
    reports: list[tuple[Path, Report]], *, allow_different_cases: bool = False
) -> Report:
    """One report from ``(path, report)`` pairs, in the order given."""
    if not reports:
        raise ReportError("nothing to merge")
    notes = _check_inputs(reports, allow_different_cases)
    machines: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    checks: list[CheckRecord] = []
    seen: dict[tuple[str, str], str] = {}
    findings: list[dict[str, Any]] = []
    adapters: dict[str, dict[str, Any]] = {}
    cases: dict[str, dict[str, Any]] = {}
    case_errors: list[str] = []
    load_problems: list[str] = []
    missing: dict[str, list[str]] = defaultdict(list)
    for path, report in reports:
        relabel = _add_machines(machines, report.machines)
        for run in report.runs:
            runs.append({**run, "machine": relabel[run["machine"]]})
        for record in report.checks:
            record = replace(record, machine=relabel[record.machine])
            key = (record.id, record.machine)
            if key in seen:
                findings.append(
                    {
                        "kind": "duplicate-check",
                        "check": record.id,
                        "between": [seen[key], path.name],
                        "detail": f"{record.id} on {record.machine} is in both "
                        f"{seen[key]} and {path.name}; the first is kept",
                    }
                )
                continue
            seen[key] = path.name
            checks.append(record)
        adapters.update(report.adapters)
        cases.update(report.cases)
        for kept, messages in (
            (case_errors, report.case_errors),
            (load_problems, report.adapter_load_problems),
        ):
            kept.extend(m for m in messages if m not in kept)
        for reason, ids in report.missing.items():
            missing[reason].extend(ids)
    findings.extend(disagreements(checks))
    findings.extend(mode_disagreements(checks, adapters))
    return Report(
        generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        complete=all(report.complete for _, report in reports),
        planned_checks=sum(report.planned_checks for _, report in reports),
        interrupted=next((r.interrupted for _, r in reports if r.interrupted), None),
        missing=dict(missing),
        machines=machines,
        runs=runs,
        adapters=adapters,
        cases=cases,
        case_errors=case_errors,
        adapter_load_problems=load_problems,
        findings=findings,
        checks=checks,
        merged_from=[str(path) for path, _ in reports],
        merge_notes=notes,
    )


def _check_inputs(reports: list[tuple[Path, Report]], allow: bool) -> list[str]:
    notes = []
    hashed = (("cases_sha256", "case files"), ("known_bugs_sha256", "known-bug registry"))
    for field, what in hashed:
        digests: dict[str, list[str]] = defaultdict(list)
        for path, report in reports:
            for environment in report.machines.values():
                digests[environment[field]].append(path.name)
        if len(digests) <= 1:
            continue
        groups = "; ".join(f"{d[:12]}: {', '.join(sorted(set(p)))}" for d, p in digests.items())
        message = f"the reports were made with different {what} ({groups})"
        if field == "cases_sha256" and not allow:
            raise ReportError(
                f"{message}: the same case id may mean different inputs, so verdicts cannot "
                "be joined (re-run from the same checkout, or pass --allow-different-cases)"
            )
        notes.append(message)
    return notes


def _add_machines(machines: dict[str, Any], incoming: dict[str, Any]) -> dict[str, str]:
    """Add ``incoming`` machines; returns their labels in the merged report."""
    relabel = {}
    for label, environment in incoming.items():
        new_label, n = label, 1
        while new_label in machines and machines[new_label] != environment:
            n += 1
            new_label = f"{label}#{n}"
        machines[new_label] = environment
        relabel[label] = new_label
    return relabel
