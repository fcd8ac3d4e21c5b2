"""Reproducers: a self-contained Python snippet per non-passing check, in the framework's
own API, ready to paste into an upstream issue.

A snippet holds the exact inputs (every value of the check's dtype written as the
shortest decimal that round-trips its float64, so nothing is lost), the call as the
adapter makes it (``Adapter.reproducer``), what the framework returned on the machine of
the report, and the mathematically correct value. Run, it prints what the framework
returns there and the correct value, one line each.

Inputs are rebuilt from the case files the report was made with (its ``cases_sha256``
says whether they are the ones here). An elementwise loss (``reduction: none``) that
failed keeps only the elements outside tolerance: each element's loss depends on its own
inputs alone, so the snippet is as small as the finding. A reduction, or a gradient of
one, needs every element, and prints the elements the report kept.
"""

from __future__ import annotations

import math
import platform
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from adapters.base import Adapter
from adapters.calls import Call
from adapters.registry import discover
from conformance.engine.cases import CASES_DIR, Case, load_cases
from conformance.engine.matrix import Check, build_call
from conformance.reports.records import CheckRecord, Report, from_json_float
from conformance.vocabulary import CheckIdError, CheckKey

_PACKAGES = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "keras"),
    "jax": ("jax", "jaxlib", "optax"),
    "keras": ("keras",),
}
"""The distributions whose versions a reproducer names, per framework."""


class ReproError(ValueError):
    """A check that cannot be rebuilt here: unknown adapter or case, or a malformed id."""


class Reproducers:
    """Writes the reproducers of one report's checks (adapters and cases loaded once)."""

    def __init__(
        self,
        report: Report | None = None,
        case_paths: Sequence[Path] | None = None,
        extra_adapters: Sequence[str] = (),
    ) -> None:
        """Inputs come from ``case_paths``, else from the case paths the report's runs
        used (those that exist here), else from the shipped cases. ``extra_adapters``:
        plug-in specs (``module:object``) besides the built-in and installed adapters."""
        self.report = report
        self._extra_adapters = list(extra_adapters)
        if not case_paths:
            runs = [] if report is None else report.runs
            named = dict.fromkeys(p for run in runs for p in run["options"].get("cases", []))
            case_paths = [Path(p) for p in named if Path(p).exists()]
        self._case_paths = list(case_paths) or [CASES_DIR]

    @cached_property
    def cases(self) -> dict[str, Case]:
        return {c.id: c for c in load_cases(self._case_paths)[0]}

    @cached_property
    def adapters(self) -> dict[str, Adapter]:
        return {a.name: a for a in discover(self._extra_adapters).adapters}

    def check(self, check_id: str) -> Check:
        """The check an id names (``CheckKey.parse``)."""
        try:
            return self._check(CheckKey.parse(check_id, self.adapters))
        except CheckIdError as exc:
            raise ReproError(str(exc)) from None

    def _check(self, key: CheckKey) -> Check:
        """The check ``key`` names, with this machine's adapter and case."""
        adapter, case = self.adapters.get(key.adapter), self.cases.get(key.case)
        if adapter is None:
            raise ReproError(f"{key}: adapter {key.adapter!r} is not available here")
        if case is None:
            raise ReproError(f"{key}: no case {key.case!r} in {self._where()}")
        return Check(adapter, case, key.dtype, key.device, key.reduction, key.quantity)

    def _where(self) -> str:
        return ", ".join(str(p) for p in self._case_paths)

    def __call__(self, record: CheckRecord) -> str | None:
        """The snippet for a report's check record, or None where none can be written."""
        try:
            check = self._check(record.key)
        except ReproError:
            return None
        call, _ = build_call(check)
        indices = _shown_indices(record)
        minimal = (
            bool(indices)
            and check.reduction == "none"
            and check.case.expect_error is None
            and call.axis is None  # elements grouped into samples stay together
            and call.sample_weight is None
        )
        if minimal:
            call = _subset(call, indices)
        source = check.adapter.reproducer(call)
        if source is None:
            return None
        return self._script(record, check, call, source, None if minimal else indices)

    def _script(
        self, record: CheckRecord, check: Check, call: Call, source: str, picked: list | None
    ) -> str:
        adapter = check.adapter
        result = "grad" if check.quantity.grad else "loss"  # what the adapter's snippet names it
        values = record.values
        elements = _shown(record)
        header = [
            ("check", record.id),
            ("API", adapter.api),
            ("case", check.case.description),
            ("verdict", f"{record.verdict}: {record.detail}"[:400]),
            ("made on", self._machine(record)),
        ]
        bug = record.known_bug
        if bug:
            header.append(("known", f"{bug['reason']} {bug['link']}"))
        lines = ["# bce-conformance reproducer"]
        lines += [f"#   {key + ':':<9}{_comment(text)}" for key, text in header]
        if picked is None and values is not None and len(elements) < values["compared"]:
            lines.append(f"#   inputs:  the {len(elements)} element(s) outside tolerance of "
                         f"{values['compared']}")  # fmt: skip
        lines += ["import numpy as np", "", f"# {check.dtype} values, written exactly"]
        for name, array in (("x", call.input), ("y", call.target), ("w", call.weight),
                            ("pw", call.pos_weight), ("sw", call.sample_weight)):  # fmt: skip
            if array is not None:
                lines.append(f"{name} = {_array_literal(array)}")
        lines += ["", source, ""]
        if not elements:  # an error, or a value where the case expects one
            lines.append(f"print({result!r}, {result})")
            return "\n".join(lines) + "\n"
        where = "" if picked is None else f"[{picked!r}]"
        got = [_literal(from_json_float(e["got"])) for e in elements]
        expected = [_literal(from_json_float(e["expected"])) for e in elements]
        lines += [
            f"print('returned:', np.ravel({result}){where}.tolist())",
            f"print('correct: ', [{', '.join(expected)}])  # the exact value, rounded to float64",
            f"# returned on {_comment(record.machine)}: [{', '.join(got)}]",
        ]
        return "\n".join(lines) + "\n"

    def _machine(self, record: CheckRecord) -> str:
        environment = None if self.report is None else self.report.machines.get(record.machine)
        if environment is None:
            return f"{platform.platform()}, Python {platform.python_version()}"
        framework, _, backend = record.framework.rstrip("]").partition("[")
        wanted = {"numpy", *_PACKAGES.get(framework, (framework,)), *_PACKAGES.get(backend, ())}
        versions = {k: v for k, v in environment["packages"].items() if k in wanted}
        return (
            f"{', '.join(f'{k} {v}' for k, v in versions.items())}; Python "
            f"{environment['python']}; {environment['os']}; {environment['cpu']['model']}"
        )


def _comment(text: str) -> str:
    """Text safe on one comment line: a case name or description holding a line break
    must not become code in a snippet people run."""
    return "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in str(text))


def _shown(record: CheckRecord) -> list[dict[str, Any]]:
    """The elements a snippet prints: those outside tolerance, else every kept one."""
    values = record.values
    if values is None:
        return []
    tolerance = record.tolerance_ulps
    outside = [e for e in values["elements"]
               if tolerance is not None and float(e["error_ulps"]) > tolerance]  # fmt: skip
    return sorted(outside or values["elements"], key=lambda e: e["index"])


def _shown_indices(record: CheckRecord) -> list[int]:
    return [e["index"] for e in _shown(record)]


def _subset(call: Call, indices: list[int]) -> Call:
    """The call on the given flat elements only, weights broadcast to them."""

    def take(array: np.ndarray) -> np.ndarray:
        return np.broadcast_to(array, call.input.shape).reshape(-1)[indices].copy()

    return replace(
        call,
        input=take(call.input),
        target=take(call.target),
        weight=None if call.weight is None else take(call.weight),
        pos_weight=None if call.pos_weight is None else take(call.pos_weight),
    )


def _literal(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(float(value))


def _array_literal(array: np.ndarray) -> str:
    flat = np.asarray(array, dtype=np.float64).reshape(-1)
    body = f"np.array([{', '.join(_literal(v) for v in flat)}])"
    if array.ndim == 1:
        return body
    return f"{body}.reshape({tuple(array.shape)!r})"
