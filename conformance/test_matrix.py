"""The conformance matrix as pytest tests: one test per adapter, device, dtype and case
file (see conftest.py), each the verdicts of that file's checks.

A test passes when each of its checks' verdicts is ``pass``, ``convention``,
``accepts_invalid`` or ``skip``; it fails, listing each check, on a ``fail`` or ``error``
the known-bug registry does not explain, and on a check the registry says must fail that
did not (the entry is stale); it is an xfail, with the entries' links, when every fail or
error in it is a registered bug; it is skipped, with the reason, when every check is.
"""

from __future__ import annotations

from typing import Protocol

import pytest

from conformance.engine.matrix import Check, CheckGroup, CheckResult, Plan, expected_bug
from conformance.known_bugs import KnownBug
from conformance.vocabulary import Verdict

SHOWN = 40
"""A failing test lists at most this many checks; the rest are counted (the report has all)."""


class _Runs(Protocol):
    def run(self, check: Check) -> CheckResult: ...


def test_checks(
    checks: CheckGroup, runner: _Runs, registry: list[KnownBug], explained_bugs: set[KnownBug]
) -> None:
    problems: list[str] = []
    known: dict[str, int] = {}
    skips: list[str] = []
    for check in checks.checks:
        result = runner.run(check)
        judgement, verdict, bug = result.judgement, result.verdict, result.known_bug
        if verdict is Verdict.SKIP:
            skips.append(judgement.detail)
            continue
        expected = expected_bug(registry, check)
        if verdict in (Verdict.FAIL, Verdict.ERROR):
            if bug is not None:
                explained_bugs.add(bug)
                label = f"{verdict.value} (known: {bug.reason} {bug.link})"
                known[label] = known.get(label, 0) + 1
                continue
            note = ""
            if expected is not None:
                note = (
                    f" (known_bugs.yaml registers a {expected.verdict} here, {expected.link}; "
                    f"this {verdict.value} is a different finding)"
                )
            problems.append(f"{check.id}: {verdict.value}: {judgement.detail}{note}")
        elif expected is not None:
            problems.append(
                f"{check.id}: {verdict.value}, but known_bugs.yaml says this check fails "
                f"({expected.link}): if the framework fixed it, remove or narrow the entry"
            )
    if problems:
        hidden = len(problems) - SHOWN
        more = [f"... and {hidden} more (the JSON report of `bce-conformance run` has every "
                "check)"] if hidden > 0 else []  # fmt: skip
        pytest.fail("\n".join([*problems[:SHOWN], *more]), pytrace=False)
    if known:
        pytest.xfail("; ".join(f"{count} x {label}" for label, count in known.items()))
    if len(skips) == len(checks.checks):
        pytest.skip(f"all {len(skips)} checks skipped, e.g. {skips[0]}")


def test_case_files_load(case_plan: Plan) -> None:
    """Every case file given to this run is valid (the valid cases ran either way)."""
    assert not case_plan.case_errors, "\n".join(str(e) for e in case_plan.case_errors)
