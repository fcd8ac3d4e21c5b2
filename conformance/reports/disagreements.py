"""Findings made by comparing checks with each other rather than with the reference.

- The same check (adapter, dtype, case, reduction, quantity) on two devices or machines
  (a merged report): a ``device-disagreement`` or ``machine-disagreement``.
- The same code in two modes: an adapter that traces or compiles another adapter's code
  (``Adapter.same_code_as``: ``tf.function``, XLA, ``jax.jit``, ``torch.compile``) beside
  that eager adapter, on the same device, dtype, case, reduction and quantity: a
  ``mode-disagreement``, the same user code giving another loss or gradient once traced.

Two checks disagree when one conforms (pass, convention) and the other does not, or when
their values differ by more than the check's tolerance, in ULPs of the dtype, at some
element both kept as evidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from itertools import combinations
from typing import Any

import numpy as np

from conformance.engine.dtypes import FloatFormat, float_format
from conformance.reports.records import CheckRecord
from conformance.vocabulary import CheckKey, Quantity


def disagreements(checks: list[CheckRecord]) -> list[dict[str, Any]]:
    """Findings for the same check run on two devices or machines that disagree."""
    groups: dict[CheckKey, list[CheckRecord]] = defaultdict(list)
    for record in checks:
        if record.verdict.ran:
            groups[replace(record.key, device="")].append(record)
    findings = []
    for group in groups.values():
        for a, b in combinations(group, 2):
            where = f"{a.key.device} on {a.machine} vs {b.key.device} on {b.machine}"
            detail = _disagreement(a, b, where)
            if detail is None:
                continue
            kind = "device-disagreement" if a.key.device != b.key.device else "machine-disagreement"
            findings.append(
                {
                    "kind": kind,
                    "check": a.id,
                    "between": [f"{a.id}@{a.machine}", f"{b.id}@{b.machine}"],
                    "detail": detail,
                }
            )
    return findings


def mode_disagreements(
    checks: list[CheckRecord], adapters: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Findings for a traced or compiled mode disagreeing with its eager adapter on the
    same check (``adapters``: the report's adapter entries, with ``same_code_as``)."""
    ran = {(r.machine, r.key): r for r in checks if r.verdict.ran}
    findings = []
    for record in checks:
        eager_name = adapters.get(record.key.adapter, {}).get("same_code_as") or ""
        eager_key = (record.machine, replace(record.key, adapter=eager_name))
        eager = ran.get(eager_key) if eager_name else None
        if eager is None or not record.verdict.ran:
            continue
        detail = _disagreement(eager, record, f"{eager.key.adapter} vs {record.key.adapter}")
        if detail is not None:
            findings.append(
                {
                    "kind": "mode-disagreement",
                    "check": record.id,
                    "between": [eager.id, record.id],
                    "detail": detail,
                }
            )
    return findings


def _disagreement(a: CheckRecord, b: CheckRecord, where: str) -> str | None:
    """How ``a`` and ``b`` disagree, or None: their verdicts (with the first element whose
    values differ, side by side), or an element beyond the tolerance."""
    apart = _element_apart(a, b)
    if a.verdict.conforms != b.verdict.conforms:
        return f"{where}: {a.verdict} vs {b.verdict}" + (f"; {apart[0]}" if apart else "")
    tolerance = a.tolerance_ulps or 0.0
    if apart is None or apart[1] <= tolerance:
        return None
    return f"{where}: {apart[0]} > tolerance {tolerance:g}"


def _element_apart(a: CheckRecord, b: CheckRecord) -> tuple[str, float] | None:
    """The first element both kept whose values differ: its text, and how many ULPs apart
    (inf for NaN against a number)."""
    if a.values is None or b.values is None:
        return None
    ours = {e["index"]: e for e in a.values["elements"]}
    fmt = float_format(a.key.dtype)
    quantity = a.key.quantity
    for element in b.values["elements"]:
        other = ours.get(element["index"])
        if other is None:
            continue
        x, y = float(other["got"]), float(element["got"])
        if (np.isnan(x) and np.isnan(y)) or x == y:
            continue
        unit = max(_ulp(other, fmt, quantity), _ulp(element, fmt, quantity))
        with np.errstate(invalid="ignore", over="ignore"):
            ulps = abs(x - y) / unit
        ulps = float(ulps) if np.isfinite(ulps) else float("inf")
        return f"element {element['index']}: {x!r} vs {y!r} ({ulps:.3g} ULP apart)", ulps
    return None


def _ulp(element: dict[str, Any], fmt: FloatFormat, quantity: Quantity) -> float:
    """The ULP the check's tolerance is stated in at this element: of the value, or for a
    gradient of the size of its terms, recovered from the stored error (error = distance
    / unit) where that is possible."""
    got, expected, error = (float(element[k]) for k in ("got", "expected", "error_ulps"))
    if quantity.grad and 0 < error < np.inf and np.isfinite(got) and got != expected:
        return abs(got - expected) / error
    return float(fmt.ulp(np.float64(expected))) if np.isfinite(expected) else np.inf
