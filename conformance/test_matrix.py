"""The conformance matrix as pytest tests: one test per check (see conftest.py).

A check passes on the verdicts ``pass`` and ``convention``, is skipped with its reason on
``skip``, and fails on ``fail`` and ``error`` with the measured error in the message.
"""

from __future__ import annotations

from typing import Protocol

import pytest

from conformance.engine.matrix import Check, CheckResult, Plan
from conformance.engine.verdicts import Verdict


class _Runs(Protocol):
    def run(self, check: Check) -> CheckResult: ...


def test_check(check: Check, runner: _Runs) -> None:
    result = runner.run(check)
    judgement = result.judgement
    if judgement.verdict is Verdict.SKIP:
        pytest.skip(judgement.detail)
    if judgement.verdict in (Verdict.FAIL, Verdict.ERROR):
        bug = result.known_bug
        if bug is not None and not bug.strict:
            pytest.xfail(f"{judgement.verdict.value} (known: {bug.reason} {bug.link})")
        pytest.fail(f"{judgement.verdict.value}: {judgement.detail}", pytrace=False)


def test_case_files_load(case_plan: Plan) -> None:
    """Every case file given to this run is valid (the valid cases ran either way)."""
    assert not case_plan.case_errors, "\n".join(str(e) for e in case_plan.case_errors)
