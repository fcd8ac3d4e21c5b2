"""pytest plumbing for the conformance matrix: options, parametrisation, known-bug xfails.

    pytest conformance [--profile quick|full] [--adapters GLOBS] [--dtypes float32,...]
                       [--devices cpu,gpu] [--cases PATH ...] [--adapter SPEC ...]
                       [--check-timeout SECONDS] [--isolation process|none]

Each check becomes one test with a readable id (adapter-device-dtype-case:reduction). The
checks run in a supervised worker process (``conformance/running/supervisor.py``): a check that
hangs past the timeout or crashes its worker is that test's ``error``, and a fresh worker
runs the next, so one check can neither hang nor end the session. A check named by a
strict entry of conformance/known_bugs.yaml is a strict xfail: if the framework starts
passing it, the test fails and says so (a non-strict entry only turns an actual fail into
an xfail). Registry entries that match no collected check are listed at the end of an
unfiltered run, so stale entries do not pile up.
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
    known_bug_for,
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


def _bug_for(config: pytest.Config, check: Check) -> KnownBug | None:
    bug = known_bug_for(config._bce_bugs, check)  # type: ignore[attr-defined]
    if bug is not None:
        config._bce_used_bugs.add(bug)  # type: ignore[attr-defined]
    return bug


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        plan = _plan(metafunc.config)
        params = []
        for check in plan.checks:
            marks = []
            bug = _bug_for(metafunc.config, check)
            if bug is not None and bug.strict:  # non-strict ones are applied in the test
                marks.append(pytest.mark.xfail(strict=True, reason=f"{bug.reason} {bug.link}"))
            params.append(pytest.param(check, marks=marks, id=check.id))
        metafunc.parametrize("check", params)
    if "case_plan" in metafunc.fixturenames:
        metafunc.parametrize("case_plan", [_plan(metafunc.config)], ids=["cases"])


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
    if plan is None or filtered:
        return
    stale = [
        b
        for b in config._bce_bugs  # type: ignore[attr-defined]
        if b not in config._bce_used_bugs  # type: ignore[attr-defined]
        and not all(c.startswith("properties/") for c in b.case)  # the property tests' own
    ]
    for bug in stale:
        terminalreporter.write_line(
            f"known_bugs.yaml: entry matches no check (stale?): {bug.adapter} / {bug.case}",
            yellow=True,
        )
    for problem in plan.load_problems:
        terminalreporter.write_line(
            f"adapter plug-in not loaded: {problem.source}: {problem.message}"
        )
