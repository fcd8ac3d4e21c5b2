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
from itertools import combinations
from typing import Any

import numpy as np

from conformance.engine.dtypes import FloatFormat, float_format
from conformance.reports.document import from_json_float
from conformance.vocabulary import Quantity, Verdict


def disagreements(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings for the same check run on two devices or machines that disagree."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for record in checks:
        if Verdict(record["verdict"]).ran:
            key = (record["adapter"], record["dtype"], record["case"], record["reduction"])
            groups[(*key, record["quantity"])].append(record)
    findings = []
    for group in groups.values():
        for a, b in combinations(group, 2):
            where = f"{a['device']} on {a['machine']} vs {b['device']} on {b['machine']}"
            detail = _disagreement(a, b, where)
            if detail is None:
                continue
            kind = "device-disagreement" if a["device"] != b["device"] else "machine-disagreement"
            findings.append(
                {
                    "kind": kind,
                    "check": a["id"],
                    "between": [f"{a['id']}@{a['machine']}", f"{b['id']}@{b['machine']}"],
                    "detail": detail,
                }
            )
    return findings


def mode_disagreements(
    checks: list[dict[str, Any]], adapters: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Findings for a traced or compiled mode disagreeing with its eager adapter on the
    same check (``adapters``: the report's adapter entries, with ``same_code_as``)."""
    by_key: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in checks:
        if Verdict(record["verdict"]).ran:
            by_key[_key(record, record["adapter"])] = record
    findings = []
    for record in checks:
        eager_name = adapters.get(record["adapter"], {}).get("same_code_as") or ""
        eager = by_key.get(_key(record, eager_name)) if eager_name else None
        if eager is None or not Verdict(record["verdict"]).ran:
            continue
        detail = _disagreement(eager, record, f"{eager['adapter']} vs {record['adapter']}")
        if detail is not None:
            findings.append(
                {
                    "kind": "mode-disagreement",
                    "check": record["id"],
                    "between": [eager["id"], record["id"]],
                    "detail": detail,
                }
            )
    return findings


def _key(record: dict[str, Any], adapter: str) -> tuple[str, ...]:
    fields = ("machine", "device", "dtype", "case", "reduction", "quantity")
    return (adapter, *(record[f] for f in fields))


def _disagreement(a: dict[str, Any], b: dict[str, Any], where: str) -> str | None:
    """How ``a`` and ``b`` disagree, or None: their verdicts (with the first element whose
    values differ, side by side), or an element beyond the tolerance."""
    apart = _element_apart(a, b)
    if Verdict(a["verdict"]).conforms != Verdict(b["verdict"]).conforms:
        return f"{where}: {a['verdict']} vs {b['verdict']}" + (f"; {apart[0]}" if apart else "")
    tolerance = from_json_float(a["tolerance_ulps"]) or 0.0
    if apart is None or apart[1] <= tolerance:
        return None
    return f"{where}: {apart[0]} > tolerance {tolerance:g}"


def _element_apart(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, float] | None:
    """The first element both kept whose values differ: its text, and how many ULPs apart
    (inf for NaN against a number)."""
    if a["values"] is None or b["values"] is None:
        return None
    ours = {e["index"]: e for e in a["values"]["elements"]}
    fmt = float_format(a["dtype"])
    for element in b["values"]["elements"]:
        other = ours.get(element["index"])
        if other is None:
            continue
        x, y = float(other["got"]), float(element["got"])
        if (np.isnan(x) and np.isnan(y)) or x == y:
            continue
        unit = max(_ulp(other, fmt, a["quantity"]), _ulp(element, fmt, a["quantity"]))
        with np.errstate(invalid="ignore", over="ignore"):
            ulps = abs(x - y) / unit
        ulps = float(ulps) if np.isfinite(ulps) else float("inf")
        return f"element {element['index']}: {x!r} vs {y!r} ({ulps:.3g} ULP apart)", ulps
    return None


def _ulp(element: dict[str, Any], fmt: FloatFormat, quantity: str) -> float:
    """The ULP the check's tolerance is stated in at this element: of the value, or for a
    gradient of the size of its terms, recovered from the stored error (error = distance
    / unit) where that is possible."""
    got, expected, error = (float(element[k]) for k in ("got", "expected", "error_ulps"))
    if quantity != Quantity.VALUE and 0 < error < np.inf and np.isfinite(got) and got != expected:
        return abs(got - expected) / error
    return float(fmt.ulp(np.float64(expected))) if np.isfinite(expected) else np.inf
