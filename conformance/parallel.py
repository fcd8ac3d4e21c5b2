"""Run a plan's checks in worker processes, and measure their peak memory.

Workers are started with ``spawn`` (fresh interpreters: CUDA and the frameworks' thread
pools do not survive ``fork``). Each worker rebuilds the same plan from the same options
(plans are deterministic) and runs its share of the checks, whole frameworks at a time so
that it imports only those. Only verdicts travel back; the parent pairs them with its own
checks. A worker that dies takes only its share with it: those
checks become ``error`` verdicts that name the failure, and the report is still written.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from conformance.known_bugs import KnownBug, load_known_bugs
from conformance.matrix import Check, CheckResult, Plan, Runner, build_plan
from conformance.memory import process_peak_mib
from conformance.verdicts import Judgement, Verdict


@dataclass(frozen=True)
class WorkerReport:
    results: list[tuple[int, Judgement, KnownBug | None, float]]
    reference_seconds: float
    framework_seconds: float
    compile_seconds: float
    peak_rss_mib: float


def peak_rss_mib() -> float:
    """Peak resident memory of this process plus that of the helper processes it still runs
    (the Keras backend workers); Linux reports ru_maxrss in KiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = multiprocessing.active_children()
    return own + sum(process_peak_mib(child.pid) for child in helpers if child.pid)


# One compute thread per worker: the workers already fill the cores, and the frameworks'
# own pools would oversubscribe them (measured on 2 cores: 2 workers with default threads
# spent 51 s in the frameworks against 31 s for one process). Set before any import.
_ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _run_share(plan_options: dict[str, Any], share: list[int], sys_path: list[str]) -> WorkerReport:
    os.environ.update(_ONE_THREAD)
    sys.path[:] = sys_path  # third-party adapters named by module:object must import here too
    plan = build_plan(**plan_options)
    runner = Runner(load_known_bugs())
    results = []
    peak = 0.0
    for group in by_framework(plan.checks, share):
        for index in group:
            result = runner.run(plan.checks[index])
            results.append((index, result.judgement, result.known_bug, result.framework_seconds))
        peak = max(peak, release_helpers(plan.checks, group))
    return WorkerReport(
        results,
        runner.references.seconds,
        runner.framework_seconds,
        runner.compile_seconds,
        max(peak, peak_rss_mib()),
    )


def by_framework(checks: Sequence[Check], indices: Sequence[int]) -> list[list[int]]:
    """``indices`` grouped by framework, in plan (case) order within each group: one
    framework's helper processes (the Keras backend workers) can then be released before
    the next starts, instead of all of them living through the run (measured on the full
    profile: per-process peaks summed to 8.4 GiB with all four alive)."""
    groups: dict[str, list[int]] = {}
    for index in indices:
        groups.setdefault(checks[index].adapter.framework, []).append(index)
    return list(groups.values())


def release_helpers(checks: Sequence[Check], group: Sequence[int]) -> float:
    """Release the adapters of a finished framework group; the peak memory before it."""
    peak = peak_rss_mib()
    for adapter in {id(checks[i].adapter): checks[i].adapter for i in group}.values():
        adapter.release()
    return peak


# Measured cost of one check by framework, in ms (quick profile, 2-core machine): eager
# JAX traces for every gradient, Keras dispatches through layers of Python. Used only to
# balance the shares; any framework not listed counts as 1.
CHECK_COST_MS = {
    "numpy": 0.1,
    "torch": 1.0,
    "tensorflow": 5.0,
    "jax": 20.0,
    # full profile, each Keras backend in its worker: eager keras.ops on jax retraces jax.grad
    "keras[jax]": 36.0,
    "keras[torch]": 2.1,
    "keras[tensorflow]": 3.6,
    "keras[numpy]": 1.5,
}


def _cost(plan: Plan, indices: list[int]) -> float:
    return sum(CHECK_COST_MS.get(plan.checks[i].adapter.framework, 1.0) for i in indices)


def shares_by_framework(plan: Plan, jobs: int) -> list[list[int]]:
    """Check indices split into ``jobs`` shares, whole frameworks at a time, costs balanced.

    A worker then imports only its frameworks: measured on the full profile, splitting by
    case (every worker importing torch, TensorFlow and JAX) peaked at 6.4 GiB over two
    workers, beyond the 6 GiB budget. A framework costing more than a fair share is split
    by case, so one slow framework can still use every worker.
    """
    fair = _cost(plan, list(range(len(plan.checks)))) / jobs
    groups: list[list[int]] = []
    for indices in by_framework(plan.checks, range(len(plan.checks))):
        if _cost(plan, indices) <= fair:
            groups.append(indices)
            continue
        by_case: dict[str, list[int]] = {}
        for index in indices:
            by_case.setdefault(plan.checks[index].case.id, []).append(index)
        groups.extend(by_case.values())
    shares: list[list[int]] = [[] for _ in range(jobs)]
    loads = [0.0] * jobs
    for indices in sorted(groups, key=lambda g: _cost(plan, g), reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].extend(indices)
        loads[lightest] += _cost(plan, indices)
    return [sorted(s) for s in shares if s]


def run_parallel(
    plan: Plan, plan_options: dict[str, Any], jobs: int
) -> tuple[list[CheckResult], dict[str, float], bool]:
    """All checks of ``plan`` in ``jobs`` worker processes, in the plan's order; on Ctrl-C,
    the shares that finished (and ``complete`` False)."""
    shares = shares_by_framework(plan, jobs)
    results: dict[int, CheckResult] = {}
    totals = {
        "reference_s": 0.0,
        "framework_s": 0.0,
        "compile_s": 0.0,
        "workers_peak_rss_mib": 0.0,
    }
    context = multiprocessing.get_context("spawn")
    complete = False
    pool = ProcessPoolExecutor(max_workers=len(shares), mp_context=context)
    try:
        futures = {pool.submit(_run_share, plan_options, s, list(sys.path)): s for s in shares}
        for future, share in futures.items():
            try:
                report = future.result()
            except BrokenProcessPool as exc:  # a crashed worker loses its share, not the run
                failure = Judgement(Verdict.ERROR, f"worker process failed: {exc!r}")
                for index in share:
                    results[index] = CheckResult(plan.checks[index], failure, None, 0.0)
                continue
            for index, judgement, bug, seconds in report.results:
                results[index] = CheckResult(plan.checks[index], judgement, bug, seconds)
            totals["reference_s"] += report.reference_seconds
            totals["framework_s"] += report.framework_seconds
            totals["compile_s"] += report.compile_seconds
            totals["workers_peak_rss_mib"] += report.peak_rss_mib
        complete = True
    except KeyboardInterrupt:
        print("interrupted: writing what ran so far", file=sys.stderr)
    finally:
        pool.shutdown(wait=complete, cancel_futures=True)
    return [results[i] for i in sorted(results)], totals, complete


def run_serial(
    plan: Plan, bugs: Sequence[KnownBug]
) -> tuple[list[CheckResult], dict[str, float], bool]:
    """All checks in this process; stops cleanly on Ctrl-C with what ran so far."""
    runner = Runner(bugs)
    results: dict[int, CheckResult] = {}
    complete = False
    peak = 0.0
    try:
        for group in by_framework(plan.checks, range(len(plan.checks))):
            for index in group:
                results[index] = runner.run(plan.checks[index])
            peak = max(peak, release_helpers(plan.checks, group))
        complete = True
    except KeyboardInterrupt:
        print("interrupted: writing what ran so far", file=sys.stderr)
    timing = {
        "reference_s": runner.references.seconds,
        "framework_s": runner.framework_seconds,
        "compile_s": runner.compile_seconds,
        "main_peak_rss_mib": max(peak, peak_rss_mib()),  # helpers included while they ran
    }
    return [results[i] for i in sorted(results)], timing, complete
