"""The conformance matrix as pytest tests: one test per check (see conftest.py).

A check passes on the verdicts ``pass``, ``convention`` and ``accepts_invalid``, is skipped
with its reason on ``skip``, and fails on ``fail`` and ``error`` with the measured error in
the message, unless the known-bug registry explains it (an xfail with the link).
"""

from __future__ import annotations

from typing import Protocol

import pytest

from conformance.engine.matrix import Check, CheckResult, Plan, expected_bug
from conformance.engine.verdicts import Verdict
from conformance.known_bugs import KnownBug


class _Runs(Protocol):
    def run(self, check: Check) -> CheckResult: ...


def test_check(
    check: Check, runner: _Runs, registry: list[KnownBug], explained_bugs: set[KnownBug]
) -> None:
    result = runner.run(check)
    judgement = result.judgement
    if judgement.verdict is Verdict.SKIP:
        pytest.skip(judgement.detail)
    expected = expected_bug(registry, check)
    if judgement.verdict in (Verdict.FAIL, Verdict.ERROR):
        bug = result.known_bug
        if bug is not None:
            explained_bugs.add(bug)
            pytest.xfail(f"{judgement.verdict.value} (known: {bug.reason} {bug.link})")
        note = ""
        if expected is not None:
            note = (
                f" (known_bugs.yaml registers a {expected.verdict} here, {expected.link}; "
                f"this {judgement.verdict.value} is a different finding)"
            )
        pytest.fail(f"{judgement.verdict.value}: {judgement.detail}{note}", pytrace=False)
    if expected is not None:
        pytest.fail(
            f"{judgement.verdict.value}, but known_bugs.yaml says this check fails "
            f"({expected.link}): if the framework fixed it, remove or narrow the entry",
            pytrace=False,
        )


def test_case_files_load(case_plan: Plan) -> None:
    """Every case file given to this run is valid (the valid cases ran either way)."""
    assert not case_plan.case_errors, "\n".join(str(e) for e in case_plan.case_errors)
