"""pytest plumbing for the conformance matrix: options, parametrisation, known-bug xfails.

    pytest conformance [--profile quick|full] [--adapters GLOBS] [--dtypes float32,...]
                       [--devices cpu,gpu] [--cases PATH ...] [--adapter SPEC ...]
                       [--check-timeout SECONDS] [--isolation process|none]

Each check becomes one test with a readable id (adapter-device-dtype-case:reduction). The
checks run in a supervised worker process (``conformance/running/supervisor.py``): a check that
hangs past the timeout or crashes its worker is that test's ``error``, and a fresh worker
runs the next, so one check can neither hang nor end the session. A fail or error that an
entry of conformance/known_bugs.yaml explains (by case, or by the per-element condition it
states, and of the kind it registers) is an xfail with the entry's link; a check that an
entry without a condition names as failing, and that passes, fails and says to remove the
entry. After an unfiltered run, entries without a condition that name no collected check
or explained no failure are listed, so stale entries do not pile up (an entry with a
``when`` condition recognises a bug in any case, users' and the hunt's included, so the
shipped cases need not hit it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import DEVICES, DTYPES
from adapters.registry import AdapterSpecError
from conformance.engine.matrix import (
    DEFAULT_DEVICES,
    Check,
    CheckResult,
    Plan,
    Runner,
    build_plan,
    check_fields,
    split_list,
)
from conformance.known_bugs import KnownBug, load_known_bugs
from conformance.running.supervisor import SupervisedRunner


def _plan_options(config: pytest.Config) -> dict[str, Any]:
    try:
        dtypes = split_list(config.getoption("dtypes"), DTYPES)
        devices = split_list(config.getoption("devices"), DEVICES)
    except ValueError as exc:
        raise pytest.UsageError(f"--dtypes/--devices: {exc}") from None
    cases = config.getoption("cases")
    return {
        "adapter_globs": split_list(config.getoption("adapters")),
        "extra_adapters": config.getoption("adapter"),
        "dtypes": dtypes,
        "profile": config.getoption("profile"),
        "devices": devices or DEFAULT_DEVICES,
        "case_paths": [Path(p).resolve() for p in cases] if cases else None,
    }


def _plan(config: pytest.Config) -> Plan:
    plan = getattr(config, "_bce_plan", None)
    if plan is None:
        options = _plan_options(config)
        try:
            plan = build_plan(**options)
        except AdapterSpecError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._bce_plan_options = options  # type: ignore[attr-defined]
        config._bce_plan = plan  # type: ignore[attr-defined]
        config._bce_bugs = load_known_bugs()  # type: ignore[attr-defined]
        config._bce_used_bugs = set()  # type: ignore[attr-defined]
    return plan


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        plan = _plan(metafunc.config)
        metafunc.parametrize("check", [pytest.param(c, id=c.id) for c in plan.checks])
    if "case_plan" in metafunc.fixturenames:
        metafunc.parametrize("case_plan", [_plan(metafunc.config)], ids=["cases"])


@pytest.fixture(scope="session")
def registry(pytestconfig: pytest.Config) -> list[KnownBug]:
    """The known-bug registry; the entries that explain a finding are recorded on it."""
    _plan(pytestconfig)
    return pytestconfig._bce_bugs  # type: ignore[no-any-return,attr-defined]


@pytest.fixture(scope="session")
def explained_bugs(pytestconfig: pytest.Config) -> set[KnownBug]:
    _plan(pytestconfig)
    return pytestconfig._bce_used_bugs  # type: ignore[no-any-return,attr-defined]


class _InProcess:
    """``--isolation none``: the checks run in the pytest process itself."""

    def __init__(self, bugs: list[KnownBug]) -> None:
        self._runner = Runner(bugs)

    def run(self, check: Check) -> CheckResult:
        return self._runner.run(check)


@pytest.fixture(scope="session")
def runner(pytestconfig: pytest.Config) -> Iterator[SupervisedRunner | _InProcess]:
    plan = _plan(pytestconfig)
    if pytestconfig.getoption("isolation") == "none":
        yield _InProcess(pytestconfig._bce_bugs)  # type: ignore[attr-defined]
        return
    supervised = SupervisedRunner(
        plan,
        pytestconfig._bce_plan_options,  # type: ignore[attr-defined]
        timeout=pytestconfig.getoption("check_timeout"),
    )
    yield supervised
    supervised.close()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    plan = getattr(config, "_bce_plan", None)
    filtered = config.getoption("adapters") or config.getoption("cases")
    if filtered:
        return
    if plan is None and getattr(config.option, "numprocesses", None):
        terminalreporter.write_line(
            "known_bugs.yaml: stale entries are listed by a run without -n (pytest-xdist "
            "workers each see part of the matrix)"
        )
    if plan is None:
        return
    explained = config._bce_used_bugs  # type: ignore[attr-defined]
    fields = [check_fields(c) for c in plan.checks]
    for bug in config._bce_bugs:  # type: ignore[attr-defined]
        if bug in explained or bug.when or all(c.startswith("properties/") for c in bug.case):
            continue  # conditions recognise cases beyond the shipped ones; properties: theirs
        named = any(bug.matches(**f) for f in fields)
        problem = "explained no failure in this run" if named else "names no check"
        terminalreporter.write_line(
            f"known_bugs.yaml: entry {problem} (stale?): {bug.adapter} / {bug.case}",
            yellow=True,
        )
    for problem in plan.load_problems:
        terminalreporter.write_line(
            f"adapter plug-in not loaded: {problem.source}: {problem.message}"
        )
