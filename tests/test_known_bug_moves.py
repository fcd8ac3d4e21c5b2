"""Every conditioned registry entry recognises its bug away from the cases that showed it.

For each entry with a condition (``when``), the test takes a known failure of its
``shown_by`` cases, writes the elements that meet the condition into a case file of its
own, under another id and another shape ((2, k): the values, then their neighbours), and
runs the same adapter, dtype, reduction and quantity on it. The moved check must be the
same finding, explained by the same bug (the same reason and link: entries that share
them are one bug over several scopes). Neighbours: each input moved by 1/64 of itself,
where that stays inside the condition (and inside [0, 1] for a valid probability);
one-point conditions (p = 0, x = inf) keep their point. Real frameworks, via ``Runner``.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from adapters.base import Adapter
from adapters.registry import builtin_adapters
from conformance.engine.cases import CASES_DIR, Case, load_cases
from conformance.engine.dtypes import FloatFormat, float_format
from conformance.engine.matrix import Check, CheckResult, Runner
from conformance.known_bugs import Condition, KnownBug, load_known_bugs
from conformance.vocabulary import Quantity, Verdict

REGISTRY = load_known_bugs()
CONDITIONED = [(index, bug) for index, bug in enumerate(REGISTRY, start=1) if bug.when]
DTYPES = ("float32", "float64", "float16", "bfloat16")
NUDGE = 1 / 64
ATTEMPTS = 40
"""Checks of the shown cases tried per entry before giving up: an entry's first matching
check nearly always shows it; strict: false entries may need a few."""


def test_every_entry_with_a_condition_names_the_cases_that_show_it() -> None:
    assert CONDITIONED, "the registry has conditioned entries"
    missing = [index for index, bug in CONDITIONED if not bug.shown_by]
    assert not missing, f"entries {missing}: a condition without shown_by cannot be moved"


def test_entries_without_a_condition_say_why() -> None:
    for index, bug in enumerate(REGISTRY, start=1):
        if not bug.when and not bug.computed_in and bug.case != ("*",):
            assert bug.no_condition, f"entry {index} names cases without a condition or a why"


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(REGISTRY)


@pytest.fixture(scope="module")
def shipped() -> list[Case]:
    cases, errors = load_cases([CASES_DIR])
    assert not errors
    return cases


def _same_bug(result: CheckResult, bug: KnownBug) -> bool:
    found = result.known_bug
    return found is not None and (found.reason, found.link) == (bug.reason, bug.link)


def _sources(bug: KnownBug, cases: list[Case], adapters: list[Adapter]) -> Iterator[Check]:
    """The checks of the entry's shown cases that its globs name, in the registry's order."""
    shown = [c for c in cases if any(fnmatchcase(c.id, g) for g in bug.shown_by)]
    for adapter in adapters:
        for case in shown:
            if case.form not in adapter.forms:
                continue
            for dtype in DTYPES:
                for reduction in case.reductions:
                    for quantity in Quantity:
                        check = Check(adapter, case, dtype, "cpu", reduction, quantity)
                        if bug.matches(**check.key.fields(), version=""):
                            yield check


def _neighbours(
    bug: KnownBug, values: dict[str, np.ndarray], fmt: FloatFormat, probability: bool
) -> np.ndarray:
    """The inputs moved by NUDGE of themselves (rounded to the dtype) where the moved value
    still meets the same alternative of the condition and stays finite (and inside [0, 1]
    for a valid probability); the others as they are."""
    x = values["input"]
    moved = x.copy()
    for condition in bug.when:
        for i in np.flatnonzero(_holds_each(condition, values)):
            for factor in (1 + NUDGE, 1 - NUDGE):
                candidate = float(np.asarray(fmt.round(np.array([x[i] * factor])), np.float64)[0])
                inside = not probability or 0.0 <= candidate <= 1.0
                finite = np.isfinite(candidate) or not np.isfinite(x[i])
                trial = {**values, "input": _with(x, i, candidate)}
                if candidate != x[i] and inside and finite and _holds_each(condition, trial)[i]:
                    moved[i] = candidate
                    break
    return moved


def _holds_each(condition: Condition, values: dict[str, np.ndarray]) -> np.ndarray:
    met = KnownBug(adapter=("*",), reason="", link="", when=(condition,)).meets(values)
    assert met is not None
    return met


def _with(x: np.ndarray, index: int, value: float) -> np.ndarray:
    changed = x.copy()
    changed[index] = value
    return changed


def _elements(check: Check) -> dict[str, np.ndarray]:
    """The check's arrays rounded to its dtype, each broadcast to the input and flattened."""
    fmt = float_format(check.dtype)
    arrays = check.case.arrays(fmt)
    shape = arrays.input.shape
    return {
        name: np.broadcast_to(np.asarray(fmt.round(a), dtype=np.float64), shape).reshape(-1)
        for name in ("input", "target", "weight", "pos_weight")
        for a in [getattr(arrays, name)]
        if a is not None
    }


def _moved_case(check: Check, bug: KnownBug, folder: Path) -> Case | None:
    """The elements of the check that meet the condition, then their neighbours: a case
    of shape (2, k) under another id (None where no element meets it)."""
    values = _elements(check)
    met = bug.meets(values)
    assert met is not None
    if not met.any():
        return None
    probability = check.case.form == "probs" and check.case.expect_error is None
    neighbours = _neighbours(bug, values, float_format(check.dtype), probability)
    spec: dict[str, Any] = {
        "id": "same-bug-elsewhere",
        "description": f"Moved from {check.case.id}: another id, shape and neighbours.",
        "form": check.case.form,
        "reductions": [check.reduction],
        "dtypes": [check.dtype],
        "input": np.stack([values["input"][met], neighbours[met]]).tolist(),
    }
    for name in ("target", "weight", "pos_weight"):
        if name in values:
            spec[name] = np.stack([values[name][met], values[name][met]]).tolist()
    if "expect" in check.case.spec:
        spec["expect"] = check.case.spec["expect"]
    if check.case.label_smoothing:  # an option applies elementwise: it moves along
        spec["label_smoothing"] = check.case.label_smoothing
    path = folder / "moved.yaml"
    path.write_text(yaml.safe_dump({"description": "A registered bug, moved.", "cases": [spec]}))
    cases, errors = load_cases([path])
    assert not errors, errors
    return cases[0]


@pytest.mark.integration
@pytest.mark.parametrize(
    "index, bug", CONDITIONED, ids=[f"entry-{i}-{b.adapter[0]}" for i, b in CONDITIONED]
)
def test_a_conditioned_entry_recognises_its_bug_moved(
    index: int, bug: KnownBug, runner: Runner, shipped: list[Case], tmp_path: Path
) -> None:
    """The first known failure of the shown cases whose moved elements still fail must be
    the same finding and the same bug there; a moved case that passes (its failure was in
    a sum the other elements carried) sends the search to the next check."""
    adapters = [a for a in builtin_adapters() if any(fnmatchcase(a.name, p) for p in bug.adapter)]
    tried = 0
    for check in _sources(bug, shipped, adapters):
        source = runner.run(check)
        if source.verdict is Verdict.SKIP:
            continue
        tried += 1
        if tried > ATTEMPTS:
            break
        if source.verdict not in (Verdict.FAIL, Verdict.ERROR) or source.known_bug is None:
            continue
        case = _moved_case(check, bug, tmp_path)
        if case is None:
            continue
        moved = runner.run(Check(check.adapter, case, check.dtype, "cpu", check.reduction,
                                 check.quantity))  # fmt: skip
        if moved.verdict is Verdict.PASS:
            continue
        assert moved.verdict is source.verdict, (check.id, moved.judgement.detail)
        assert _same_bug(moved, bug), (
            f"entry {index}: {check.id} moved is {moved.verdict.value} "
            f"({moved.judgement.detail}), explained by {moved.known_bug}"
        )
        return
    if bug.expectation and tried:
        pytest.fail(f"entry {index}: no check of {bug.shown_by} shows it moved here")
    pytest.skip(f"entry {index}: none of its checks shows it here ({tried} ran)")
