"""pytest plumbing for the conformance matrix: options, parametrisation, known-bug xfails.

    pytest conformance [--profile quick|full] [--adapters GLOBS] [--dtypes float32,...]
                       [--devices cpu,gpu] [--cases PATH ...] [--adapter SPEC ...]
                       [--shard K/N] [--cache-dir DIR] [--check-timeout SECONDS]
                       [--isolation process|none]

The checks of one adapter, device and dtype over one case file are one test, with a
readable id (adapter-device-dtype-casefile) and, when it fails, a line per failing check
(one test per check would make pytest's own bookkeeping per test, which ``pytest
--durations`` shows, cost more than the checks). The checks are not run one test at a
time: the first matrix test of a session runs every selected check at once through the
same engine as ``bce-conformance run`` (``conformance/application.py``: supervised
workers on every core, the cache directory),
and each test then reports its checks' verdicts. Under pytest-xdist each pytest worker
runs its own part of the matrix (a cost-balanced partition, whole parts handed out by
xdist's ``loadgroup`` scheduling), so nothing is run twice. A check that hangs past the
timeout or crashes its worker is an ``error`` of its test; one check can neither hang nor
end the session. A fail or error that an entry of conformance/known_bugs.yaml explains
(by case, or by the per-element condition it states, and of the kind it registers) makes
its test an xfail with the entry's link, unless the test has an unexplained one too; a
check that an entry without a condition names as failing, and that passes, fails its
test, which says to remove the entry. After an unfiltered run, entries without a condition
that name checks this run planned and explained none of their failures are listed, so stale
entries do not pile up (an entry that names only checks of another profile is not: this run
cannot tell; an entry with a ``when`` condition recognises a bug in any case, users' and
the hunt's included, so the shipped cases need not hit it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.calls import DEVICES, DTYPES
from adapters.registry import AdapterSpecError
from conformance.application import RunSpec, run_conformance
from conformance.engine.matrix import (
    DEFAULT_DEVICES,
    Check,
    CheckGroup,
    CheckResult,
    Plan,
    build_plan,
    check_fields,
    group_by_file,
    split_list,
)
from conformance.engine.verdicts import Judgement
from conformance.known_bugs import KnownBug, load_known_bugs
from conformance.running.scheduling import CostModel, ShardError, parse_shard, shard
from conformance.vocabulary import Verdict


def _spec(config: pytest.Config) -> RunSpec:
    try:
        dtypes = split_list(config.getoption("dtypes"), DTYPES)
        devices = split_list(config.getoption("devices"), DEVICES)
        shard_option = config.getoption("shard")
        shard_of = parse_shard(shard_option) if shard_option else None
    except (ValueError, ShardError) as exc:
        raise pytest.UsageError(f"--dtypes/--devices/--shard: {exc}") from None
    cases = config.getoption("cases")
    xdist_worker = "PYTEST_XDIST_WORKER" in os.environ
    return RunSpec(
        profile=config.getoption("profile"),
        adapter_globs=split_list(config.getoption("adapters")),
        extra_adapters=config.getoption("adapter"),
        dtypes=dtypes,
        devices=devices or DEFAULT_DEVICES,
        case_paths=[Path(p).resolve() for p in cases] if cases else None,
        jobs=1 if xdist_worker else 0,  # under xdist, each pytest worker is one core
        timeout=config.getoption("check_timeout"),
        isolation=config.getoption("isolation"),
        cache_dir=None if config.getoption("no_cache") else Path(config.getoption("cache_dir")),
        shard=shard_of,
    )


def _plan(config: pytest.Config) -> Plan:
    plan = getattr(config, "_bce_plan", None)
    if plan is None:
        spec = _spec(config)
        try:
            plan = build_plan(**spec.plan_options())
        except AdapterSpecError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._bce_spec = spec  # type: ignore[attr-defined]
        config._bce_plan = plan  # type: ignore[attr-defined]
        config._bce_bugs = load_known_bugs()  # type: ignore[attr-defined]
        config._bce_used_bugs = set()  # type: ignore[attr-defined]
        config._bce_results = {}  # type: ignore[attr-defined]
    return plan


def _parts() -> int:
    """How many parts the matrix is cut into: one per pytest-xdist worker (1 without)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def _group_parts(plan: Plan, groups: list[CheckGroup]) -> list[int]:
    """The pytest-xdist part (1 to ``_parts()``) of each group, 0 for all without xdist: each
    group goes whole to the part of its first check in a cost-balanced partition."""
    parts = _parts()
    if parts == 1:
        return [0] * len(groups)
    index = {check.id: i for i, check in enumerate(plan.checks)}
    costs = CostModel.shipped()
    part_of_first: dict[int, int] = {}
    for part in range(1, parts + 1):
        part_of_first.update(dict.fromkeys(shard(plan.checks, part, parts, costs), part))
    return [part_of_first[index[group.checks[0].id]] for group in groups]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "checks" in metafunc.fixturenames:
        config = metafunc.config
        plan = _plan(config)
        spec: RunSpec = config._bce_spec  # type: ignore[attr-defined]
        chosen = shard(plan.checks, *spec.shard) if spec.shard else range(len(plan.checks))
        groups = group_by_file(plan.checks[i] for i in chosen)
        group_parts = _group_parts(plan, groups)
        config._bce_part_of = {  # type: ignore[attr-defined]
            check.id: part
            for group, part in zip(groups, group_parts, strict=True)
            for check in group.checks
        }
        # no pytest-timeout backstop here: the first matrix test runs the whole engine, whose
        # checks each have their own timeout (--check-timeout), so the session is bounded
        marks = [pytest.mark.timeout(0)]
        params = [
            pytest.param(
                group,
                id=group.id,
                marks=[*marks, pytest.mark.xdist_group(f"matrix-part-{part}")] if part else marks,
            )
            for group, part in zip(groups, group_parts, strict=True)
        ]
        metafunc.parametrize("checks", params)
    if "case_plan" in metafunc.fixturenames:
        metafunc.parametrize("case_plan", [_plan(metafunc.config)], ids=["cases"])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which checks this session will run (after -k and deselection)."""
    selected = [
        check
        for item in session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("checks"), CheckGroup)
        for check in item.callspec.params["checks"].checks
    ]
    session.config._bce_selected = selected  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def registry(pytestconfig: pytest.Config) -> list[KnownBug]:
    """The known-bug registry; the entries that explain a finding are recorded on it."""
    _plan(pytestconfig)
    return pytestconfig._bce_bugs  # type: ignore[no-any-return,attr-defined]


@pytest.fixture(scope="session")
def explained_bugs(pytestconfig: pytest.Config) -> set[KnownBug]:
    _plan(pytestconfig)
    return pytestconfig._bce_used_bugs  # type: ignore[no-any-return,attr-defined]


class EngineResults:
    """Each check's result, from one engine run over the checks of its part of the matrix
    that this session selected, made when the first of them is asked for."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.plan = _plan(config)
        self.results: dict[str, CheckResult] = config._bce_results  # type: ignore[attr-defined]
        self._index = {check.id: i for i, check in enumerate(self.plan.checks)}

    def run(self, check: Check) -> CheckResult:
        if check.id not in self.results:
            self._run_part_of(check)
        return self.results[check.id]

    def _run_part_of(self, check: Check) -> None:
        selected: list[Check] = getattr(self.config, "_bce_selected", [check])
        part_of: dict[str, int] = getattr(self.config, "_bce_part_of", {})
        part = part_of.get(check.id, 0)  # its pytest-xdist part (0: no xdist)
        indices = sorted(
            self._index[c.id]
            for c in {c.id: c for c in [*selected, check]}.values()
            if c.id not in self.results and part_of.get(c.id, 0) == part
        )
        spec: RunSpec = self.config._bce_spec  # type: ignore[attr-defined]
        run = run_conformance(spec, plan=self.plan, indices=indices)
        if run.outcome.interrupted:
            raise KeyboardInterrupt(run.outcome.interrupted)
        for result in run.outcome.results:
            self.results[result.check.id] = result
        for missing, reason in run.outcome.missing:
            self.results[missing.id] = CheckResult(
                missing, Judgement(Verdict.ERROR, reason), None, 0.0
            )


@pytest.fixture(scope="session")
def runner(pytestconfig: pytest.Config) -> EngineResults:
    return EngineResults(pytestconfig)


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
    # entries that share a reason and a link are one bug over several scopes
    explained = {(b.reason, b.link) for b in config._bce_used_bugs}  # type: ignore[attr-defined]
    selected = getattr(config, "_bce_selected", plan.checks)  # after -k and deselection
    fields = [check_fields(c) for c in selected]
    for bug in config._bce_bugs:  # type: ignore[attr-defined]
        cases = bug.named_cases
        if (bug.reason, bug.link) in explained or not cases:
            continue
        if all(c.startswith("properties/") for c in cases):
            continue  # the property tests' own
        if not any(bug.names(cases, f) for f in fields):
            continue  # its checks were not planned in this run (another profile's, say)
        terminalreporter.write_line(
            f"known_bugs.yaml: entry explained no failure in this run (stale?): "
            f"{bug.adapter} / {cases}",
            yellow=True,
        )
    for problem in plan.load_problems:
        terminalreporter.write_line(
            f"adapter plug-in not loaded: {problem.source}: {problem.message}"
        )
