"""The JSON report's records as types: ``CheckRecord`` (one check) and ``Report`` (the
document), each made here and turned here into the JSON that ``report.schema.json``
describes (``to_json``); a validated report reads back into them (``Report.from_json``,
``CheckRecord.from_json``), and every reader of a report reads these types. ``summarise``
derives a report's per-adapter summary from its check records.

JSON has no inf or NaN: a float field holds a number, or the string "inf", "-inf" or
"nan" (``json_float``, read back by ``from_json_float``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.engine.evidence import Evidence
from conformance.engine.matrix import CheckResult
from conformance.vocabulary import CheckKey, Quantity, Verdict

SCHEMA_VERSION = 3


def json_float(value: float | None) -> float | str | None:
    """A float as JSON holds it: a number, or "inf", "-inf", "nan" (JSON has no such
    numbers). Finite floats keep every bit: JSON writes the shortest round-trip decimal."""
    if value is None or math.isfinite(value):
        return value
    return str(float(value))


def from_json_float(value: float | str | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class CheckRecord:
    """One check as the report keeps it: which check, where it ran, its verdict, and the
    values it compared (``values``: ``conformance/engine/evidence.py`` says what is kept)."""

    key: CheckKey
    framework: str
    machine: str
    verdict: Verdict
    error_ulps: float | None
    relative_error: float | None
    tolerance_ulps: float | None
    result_dtype: str | None
    conventions: list[str]
    detail: str
    seconds: float
    known_bug: dict[str, str] | None
    """The registry entry that explains a fail or error: its reason and link."""
    values: dict[str, Any] | None

    @property
    def id(self) -> str:
        return str(self.key)

    @property
    def is_finding(self) -> bool:
        """A fail or error that no registry entry explains."""
        return self.verdict.is_finding(explained=self.known_bug is not None)

    @classmethod
    def of(cls, result: CheckResult, machine: str) -> CheckRecord:
        """The record of a check run on ``machine``."""
        j, bug = result.judgement, result.known_bug
        return cls(
            key=result.check.key,
            framework=result.check.adapter.framework,
            machine=machine,
            verdict=j.verdict,
            error_ulps=j.error_ulps,
            relative_error=j.evidence.max_relative_error if j.evidence else None,
            tolerance_ulps=j.tolerance_ulps,
            result_dtype=j.result_dtype,
            conventions=j.conventions,
            detail=j.detail,
            seconds=round(result.framework_seconds, 6),
            known_bug=None if bug is None else {"reason": bug.reason, "link": bug.link},
            values=None if j.evidence is None else _values(j.evidence),
        )

    def to_json(self) -> dict[str, Any]:
        key = self.key
        return {
            "id": str(key),
            "adapter": key.adapter,
            "framework": self.framework,
            "machine": self.machine,
            "device": key.device,
            "dtype": key.dtype,
            "reduction": key.reduction,
            "quantity": key.quantity.value,
            "case": key.case,
            "verdict": self.verdict.value,
            "error_ulps": json_float(self.error_ulps),
            "relative_error": json_float(self.relative_error),
            "tolerance_ulps": json_float(self.tolerance_ulps),
            "result_dtype": self.result_dtype,
            "conventions": self.conventions,
            "detail": self.detail,
            "seconds": self.seconds,
            "known_bug": self.known_bug,
            "values": self.values,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> CheckRecord:
        """A check record of a report that ``document.load_report`` validated."""
        key = CheckKey(
            record["adapter"],
            record["device"],
            record["dtype"],
            record["case"],
            record["reduction"],
            Quantity(record["quantity"]),
        )
        return cls(
            key=key,
            framework=record["framework"],
            machine=record["machine"],
            verdict=Verdict(record["verdict"]),
            error_ulps=from_json_float(record["error_ulps"]),
            relative_error=from_json_float(record["relative_error"]),
            tolerance_ulps=from_json_float(record["tolerance_ulps"]),
            result_dtype=record.get("result_dtype"),  # optional in the schema
            conventions=record["conventions"],
            detail=record["detail"],
            seconds=record["seconds"],
            known_bug=record["known_bug"],
            values=record["values"],
        )


def _values(evidence: Evidence) -> dict[str, Any]:
    return {
        "compared": evidence.compared,
        "outside_tolerance": evidence.outside_tolerance,
        "all_elements": evidence.all_elements,
        "median_error_ulps": json_float(evidence.median_error_ulps),
        "elements": [
            {
                "index": e.index,
                "input": json_float(e.input),
                "target": json_float(e.target),
                "got": json_float(e.got),
                "expected": json_float(e.expected),
                "error_ulps": json_float(e.error_ulps),
            }
            for e in evidence.elements
        ],
    }


@dataclass
class Report:
    """The document: one or more runs (several once reports of other machines or shards are
    merged), the environment of each machine, and a record per check. Its ``summary`` is
    derived from the checks when it is written."""

    generated: str
    complete: bool
    planned_checks: int
    interrupted: str | None
    missing: dict[str, list[str]]
    """Ids of the checks without a verdict, by the reason."""
    machines: dict[str, dict[str, Any]]
    runs: list[dict[str, Any]]
    adapters: dict[str, dict[str, Any]]
    cases: dict[str, dict[str, Any]]
    case_errors: list[str]
    adapter_load_problems: list[str]
    findings: list[dict[str, Any]]
    checks: list[CheckRecord]
    merged_from: list[str] | None = None
    """The reports a merged report joins (None: not merged)."""
    merge_notes: list[str] = field(default_factory=list)

    @property
    def missing_count(self) -> int:
        """Planned checks without a verdict."""
        return sum(map(len, self.missing.values()))

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per adapter, in the order of its first check: ``summarise``."""
        return summarise(self.checks)

    @property
    def unexplained(self) -> list[CheckRecord]:
        """Fails and errors that no registry entry explains: what a person must look at."""
        return [record for record in self.checks if record.is_finding]

    def to_json(self) -> dict[str, Any]:
        """The document as ``report.schema.json`` describes it."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "generated": self.generated,
            "complete": self.complete,
            "planned_checks": self.planned_checks,
            "interrupted": self.interrupted,
            "missing": {"count": self.missing_count, "by_reason": self.missing},
            "machines": self.machines,
            "runs": self.runs,
            "adapters": self.adapters,
            "cases": self.cases,
            "summary": self.summary,
            "case_errors": self.case_errors,
            "adapter_load_problems": self.adapter_load_problems,
            "findings": self.findings,
        }
        if self.merged_from is not None:
            document.update(merged_from=self.merged_from, merge_notes=self.merge_notes)
        document["checks"] = [record.to_json() for record in self.checks]
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Report:
        """The report of a document that ``document.load_report`` validated. Its summary
        and missing count are not read: both are derived (``summary``, ``missing_count``)."""
        return cls(
            generated=document["generated"],
            complete=document["complete"],
            planned_checks=document["planned_checks"],
            interrupted=document["interrupted"],
            missing=document["missing"]["by_reason"],
            machines=document["machines"],
            runs=document["runs"],
            adapters=document["adapters"],
            cases=document["cases"],
            case_errors=document["case_errors"],
            adapter_load_problems=document["adapter_load_problems"],
            findings=document["findings"],
            checks=[CheckRecord.from_json(record) for record in document["checks"]],
            merged_from=document.get("merged_from"),  # both optional in the schema
            merge_notes=document.get("merge_notes", []),
        )


def summarise(checks: Iterable[CheckRecord]) -> dict[str, dict[str, Any]]:
    """Per adapter: verdict counts, known bugs among the fails and errors, the share of
    checks that conform (pass or convention, of those that ran), and the worst error in
    ULPs per quantity (value, grad, target_grad, grad2) and dtype among passing checks (a
    convention's error against the mathematics is unbounded by design, and a fail's is in
    its record)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    worst: dict[str, dict[Quantity, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for record in checks:
        key = record.key
        counts[key.adapter][record.verdict.value] += 1
        if record.known_bug is not None:
            counts[key.adapter]["known_bug"] += 1
        error = record.error_ulps
        if error is not None and record.verdict is Verdict.PASS:
            by_dtype = worst[key.adapter][key.quantity]
            by_dtype[key.dtype] = max(by_dtype.get(key.dtype, 0.0), error)
    summary = {}
    for name, count in counts.items():
        ran = sum(count[v.value] for v in Verdict if v.ran)
        conforming = sum(count[v.value] for v in Verdict if v.conforms)
        summary[name] = {
            **{v.value: count[v.value] for v in Verdict},
            "known_bug": count["known_bug"],
            "conforming_percent": round(100 * conforming / ran, 2) if ran else None,
            "worst_ulps": {
                q.value: {d: round(e, 3) for d, e in sorted(worst[name][q].items())}
                for q in Quantity
            },
        }
    return summary
