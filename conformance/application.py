"""The one way to run the conformance matrix: ``run_conformance(RunSpec(...))``.

The command line (``bce-conformance run``), pytest (``pytest conformance``), the hunt, the
asv agreement benchmark and the gate all call it, so they plan, schedule, isolate, cache
and time checks the same way. It builds the plan, keeps the checks of one shard when asked
(``--shard K/N``), runs them in supervised workers (or in this process), samples the
memory of the whole process tree, and stores the measured cost of each adapter in the
cache directory for the next run's scheduling. ``conformance_report`` turns the result
into the report (a ``Report``, built by ``reports/document.py``).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.calls import DTYPES
from conformance.engine.matrix import DEFAULT_DEVICES, CheckResult, Plan, Runner, build_plan
from conformance.engine.reference_store import ReferenceCache, ReferenceStore
from conformance.engine.run_outcome import RunOutcome
from conformance.known_bugs import REGISTRY_PATH, load_known_bugs
from conformance.profiles import DEFAULT_MATRIX_PROFILE
from conformance.reports import environment
from conformance.reports.document import build_report
from conformance.reports.records import Report
from conformance.running.cache_dir import framework_environment
from conformance.running.in_process import run_in_process
from conformance.running.memory import TreeMemorySampler, peak_rss_mib
from conformance.running.scheduling import CostModel, shard, write_costs
from conformance.running.signals import sigterm_interrupts
from conformance.running.supervisor import DEFAULT_TIMEOUT_S, Supervisor
from conformance.running.worker import WorkerSetup

ISOLATION = ("process", "none")
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
"""One compute thread per worker when several run: the workers already fill the cores,
and the frameworks' own pools would oversubscribe them (the frameworks column of the time
breakdown ``bce-conformance run`` prints grows when they are left at their defaults)."""


@dataclass(frozen=True)
class RunSpec:
    """What to run and how; every field has the command line's default."""

    profile: str = DEFAULT_MATRIX_PROFILE
    adapter_globs: Sequence[str] | None = None
    extra_adapters: Sequence[str] = ()
    dtypes: Sequence[str] | None = None
    devices: Sequence[str] = DEFAULT_DEVICES
    case_paths: Sequence[Path] | None = None
    jobs: int = 0
    """Worker processes; 0: one per CPU and one more (``default_jobs``)."""
    timeout: float = DEFAULT_TIMEOUT_S
    isolation: str = "process"
    cache_dir: Path | None = None
    """The suite's cache directory (``running/cache_dir.py``); None: no cache at all."""
    shard: tuple[int, int] | None = None
    """(K, N): run only the K-th of N shards of the plan."""
    framework_log: Path | None = None
    """Where the workers' standard error goes (None: this process's)."""

    def plan_options(self) -> dict[str, Any]:
        return {
            "adapter_globs": list(self.adapter_globs) if self.adapter_globs else None,
            "extra_adapters": list(self.extra_adapters),
            "dtypes": list(self.dtypes) if self.dtypes else None,
            "devices": list(self.devices),
            "case_paths": list(self.case_paths) if self.case_paths else None,
            "profile": self.profile,
        }

    @property
    def worker_jobs(self) -> int:
        return 1 if self.isolation == "none" else self.jobs or default_jobs()


def default_jobs() -> int:
    """One worker per CPU, and one more: a worker often waits (for a Keras backend helper,
    for Inductor's C++ compiler, for a cache file), and the extra one fills those gaps
    (``bce-conformance run --jobs N`` prints how busy the CPUs were: compare N = CPUs and
    CPUs + 1)."""
    return (os.cpu_count() or 1) + 1


@dataclass
class Conformance:
    """A finished run: its plan, the checks it ran (all, or one shard's), what they gave."""

    spec: RunSpec
    plan: Plan
    indices: list[int]
    outcome: RunOutcome
    timing: dict[str, Any] = field(default_factory=dict)


def planned(spec: RunSpec) -> tuple[Plan, list[int]]:
    """The plan and the indices of the checks this run runs (its shard's, or all)."""
    plan = build_plan(**spec.plan_options())
    if spec.shard is None:
        return plan, list(range(len(plan.checks)))
    return plan, shard(plan.checks, *spec.shard)


def run_conformance(
    spec: RunSpec,
    *,
    plan: Plan | None = None,
    indices: Sequence[int] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Conformance:
    """Run ``spec`` (or the given ``indices`` of an already built ``plan``)."""
    started = time.perf_counter()
    if plan is None:
        plan, chosen = planned(spec)
    else:
        chosen = list(range(len(plan.checks))) if indices is None else list(indices)
    costs_path = spec.cache_dir / "costs.json" if spec.cache_dir else None
    jobs = spec.worker_jobs
    cpu_before = cpu_seconds()
    with TreeMemorySampler() as memory, sigterm_interrupts():
        if spec.isolation == "none":
            store = ReferenceStore(spec.cache_dir) if spec.cache_dir else None
            runner = Runner(load_known_bugs(), ReferenceCache(store))
            outcome = run_in_process(plan, runner, chosen, on_result)
        else:
            outcome = Supervisor(
                plan,
                _worker_setup(spec, jobs, plan),
                jobs=jobs,
                timeout=spec.timeout,
                indices=chosen,
                costs=CostModel.measured_then_shipped(costs_path),
                on_result=on_result,
            ).run()
    if costs_path is not None and outcome.measured_costs:
        write_costs(costs_path, outcome.measured_costs)
    wall = time.perf_counter() - started
    cores = os.cpu_count() or 1
    cpu = cpu_seconds() - cpu_before
    timing = {
        "wall_s": wall,
        "cpu_s": cpu,
        "cores": cores,
        "cpu_busy_percent": 100.0 * cpu / (cores * wall) if wall > 0 else 0.0,
        **outcome.timing,
        "main_peak_rss_mib": peak_rss_mib(),
        "tree_peak_rss_mib": memory.peak_mib,
    }
    return Conformance(spec, plan, chosen, outcome, timing)


def cpu_seconds() -> float:
    """CPU time of this process and of every process it started and waited for (workers,
    their helpers and compilers), user and system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _worker_setup(spec: RunSpec, jobs: int, plan: Plan) -> WorkerSetup:
    """How workers rebuild this run's plan: with the cases read here, and without the
    plug-ins that failed to load here (a hang at import among them)."""
    environment_vars = dict(ONE_THREAD_ENV) if jobs > 1 else {}
    if spec.cache_dir is not None:
        environment_vars.update(framework_environment(spec.cache_dir))
    return WorkerSetup(
        plan_options={
            **spec.plan_options(),
            "skip_plugins": [problem.source for problem in plan.load_problems],
            "loaded_cases": plan.cases,
        },
        sys_path=tuple(sys.path),
        environment=environment_vars,
        stderr_path=None if spec.framework_log is None else str(spec.framework_log),
        cache_dir=None if spec.cache_dir is None else str(spec.cache_dir),
    )


def conformance_report(run: Conformance) -> Report:
    """The report of a finished run."""
    spec, plan = run.spec, run.plan
    checks = [plan.checks[i] for i in run.indices]
    jobs = spec.worker_jobs
    options: dict[str, Any] = {
        "profile": spec.profile,
        "dtypes": sorted({c.dtype for c in checks}, key=DTYPES.index),
        "devices": list(spec.devices),
        "jobs": jobs,
        "worker_environment": ONE_THREAD_ENV if spec.isolation == "process" and jobs > 1 else {},
        "isolation": spec.isolation,
        "timeout_s": spec.timeout,
        "cases": [str(p) for p in plan.case_paths],
        "adapters": [a.name for a in plan.adapters],
    }
    if spec.shard is not None:
        options["shard"] = f"{spec.shard[0]}/{spec.shard[1]}"
    return build_report(
        run.outcome,
        planned=len(checks),
        adapters=plan.adapters,
        cases=plan.cases,
        case_errors=plan.case_errors,
        load_problems=plan.load_problems,
        options=options,
        timing=run.timing,
        environment=environment.describe(plan.case_paths, REGISTRY_PATH),
    )
