"""Run checks in this process, without isolation (``--isolation none``): for debuggers and
profilers, which cannot follow a check into a worker. A crash or a hang here ends the run;
Ctrl-C or SIGTERM stops it cleanly with what ran so far."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from conformance.engine.matrix import CheckResult, Plan, Runner
from conformance.engine.run_outcome import RunOutcome
from conformance.running.memory import peak_rss_mib
from conformance.running.scheduling import CostModel, units
from conformance.running.signals import how_interrupted
from conformance.running.supervisor import time_breakdown
from conformance.running.worker import FrameworkGroup


def run_in_process(
    plan: Plan,
    runner: Runner,
    indices: Sequence[int] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> RunOutcome:
    """``indices`` (default all) of ``plan``, unit by unit as a worker would run them."""
    started = time.perf_counter()
    results: dict[int, CheckResult] = {}
    group = FrameworkGroup()
    interrupted = None
    observed: dict[str, float] = {}
    measured: dict[str, tuple[float, int]] = {}
    order = [i for unit in units(plan.checks, CostModel(), indices) for i in unit.indices]
    try:
        for index in order:
            check = plan.checks[index]
            group.enter(check.adapter)
            start = time.perf_counter()
            results[index] = runner.run(check)
            seconds = time.perf_counter() - start
            framework = check.adapter.framework
            observed[framework] = observed.get(framework, 0.0) + seconds
            total, count = measured.get(check.adapter.name, (0.0, 0))
            measured[check.adapter.name] = (total + seconds, count + 1)
            if on_result is not None:
                on_result(results[index])
    except KeyboardInterrupt as exc:
        interrupted = how_interrupted(exc)
    group.release()
    reason = f"not run: interrupted by {interrupted}"
    missing = [(plan.checks[i], reason) for i in order if i not in results]
    timing = time_breakdown([runner.seconds], observed, time.perf_counter() - started, 1)
    timing["workers_peak_rss_mib"] = max(group.peak_mib, peak_rss_mib())
    return RunOutcome([results[i] for i in sorted(results)], missing, timing, interrupted, measured)
