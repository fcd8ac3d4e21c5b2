"""Run checks in supervised worker processes: a hang or a crash costs one check, not the run.

The supervisor (this process) never imports a framework. It starts up to ``jobs`` workers
(``worker.py``), hands each free worker the next work unit (``scheduling.py``: the checks
of one adapter at one dtype, most expensive first, preferring the framework the worker
already imported) and reads the answers check by check. So it always knows which check
is running, and:

- a check that runs past the timeout (default ``DEFAULT_TIMEOUT_S``, counted from the
  answer before it) is an ``error`` verdict, "timed out after N s"; its worker is killed
  with everything it started and the rest of its unit goes back to be run first;
- a worker that dies (segfault, abort, the OOM killer's SIGKILL, ``os._exit``) makes the
  check it was running an ``error`` verdict naming the signal or exit status. That check is
  first retried once on a fresh worker, so a worker killed from outside costs nothing;
- an adapter that crashes or hangs on ``MAX_CONSECUTIVE_FAILURES`` checks in a row has its
  remaining checks left out, each listed as missing with the reason, instead of paying a
  timeout or a restart per check;
- Ctrl-C (SIGINT) and SIGTERM stop the run (``signals.py``): the workers are killed, and
  every check that had not finished is listed as missing.

A run is ``complete`` when every planned check has a verdict from a call that ended: it
returned, raised, crashed or timed out (those last two are the adapter's result, an
``error``). Checks never run (interrupted, or left out after repeated crashes) are missing.

Where the time went: each worker adds up, per framework, import, compilation, framework
calls, reference and judging (``Runner.seconds``); the supervisor adds what it saw beyond
that (worker start-up, the pipe, scheduling) as ``overhead`` and the time worker slots had
no check as ``idle_worker_s`` (the CPU time itself is measured by ``application.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

from conformance.engine.matrix import TIME_PARTS, CheckResult, Plan
from conformance.engine.run_outcome import RunOutcome
from conformance.engine.verdicts import Judgement
from conformance.running.pool import WorkerProcess
from conformance.running.scheduling import CostModel, Scheduler, Unit, units
from conformance.running.signals import how_interrupted
from conformance.running.worker import Answer, WorkerSetup
from conformance.vocabulary import Verdict

DEFAULT_TIMEOUT_S = 120.0
"""Per check, from the answer before it (or the batch's sending), so the first check of a
fresh worker also covers its start and the framework's import (``python -X importtime -c
"import tensorflow"``) and a compiled mode's first compilation (the compile column of the
time breakdown ``bce-conformance run --profile full --no-cache`` prints): several times
the longest of those, so only a hang reaches it."""
MAX_CONSECUTIVE_FAILURES = 3
"""Crashes or timeouts of one adapter in a row before its remaining checks are left out."""
UNITS_PER_JOB = 8
"""Work is cut into units of at most 1/(jobs x this) of the estimated total, so the last
units are small enough to share between cores at the end of a run."""


def _crash(reason: str) -> Judgement:
    return Judgement(
        Verdict.ERROR,
        f"crashed: the worker process died while running this check ({reason}), and again "
        "when the check was retried on a fresh worker",
    )


def _timed_out(timeout: float) -> Judgement:
    return Judgement(
        Verdict.ERROR,
        f"timed out after {timeout:g} s (its worker was killed; a fresh one runs the rest)",
    )


def time_breakdown(
    worker_seconds: Sequence[dict[str, dict[str, float]]],
    observed: dict[str, float],
    wall_s: float,
    jobs: int,
) -> dict[str, Any]:
    """Totals and per-framework parts from the workers' ``Runner.seconds`` and the check
    time the supervisor observed per framework."""
    by_framework: dict[str, dict[str, float]] = {}
    for seconds in worker_seconds:
        for framework, parts in seconds.items():
            mine = by_framework.setdefault(framework, dict.fromkeys(TIME_PARTS, 0.0))
            for part, value in parts.items():
                mine[part] += value
    for framework, seen in observed.items():
        mine = by_framework.setdefault(framework, dict.fromkeys(TIME_PARTS, 0.0))
        mine["overhead"] = max(0.0, seen - sum(mine[p] for p in TIME_PARTS))
    busy = sum(observed.values())
    return {
        "reference_s": sum(f["reference"] for f in by_framework.values()),
        "framework_s": sum(f["framework"] for f in by_framework.values()),
        "compile_s": sum(f["compile"] for f in by_framework.values()),
        "import_s": sum(f["import"] for f in by_framework.values()),
        "busy_worker_s": busy,
        "idle_worker_s": max(0.0, wall_s * jobs - busy),
        "by_framework": {
            name: {f"{part}_s": value for part, value in parts.items()}
            for name, parts in sorted(by_framework.items())
        },
    }


class Supervisor:
    """Runs checks of a plan in ``jobs`` worker processes (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        setup: WorkerSetup,
        *,
        jobs: int,
        timeout: float,
        indices: Sequence[int] | None = None,
        costs: CostModel | None = None,
        on_result: Callable[[CheckResult], None] | None = None,
    ) -> None:
        """``indices``: the checks to run (default all); ``on_result`` is told of every
        verdict as it arrives (progress displays)."""
        self.plan, self.setup = plan, setup
        self.jobs, self.timeout = max(jobs, 1), timeout
        self.indices = list(range(len(plan.checks)) if indices is None else indices)
        self.costs = costs or CostModel.shipped()
        self.on_result = on_result
        self.results: dict[int, CheckResult] = {}
        self.missing: dict[int, str] = {}
        self._retried: set[int] = set()
        self._failures: Counter[str] = Counter()
        self._last_failure: dict[str, str] = {}
        self._peaks: list[float] = []
        self._worker_seconds: list[dict[str, dict[str, float]]] = []
        self._observed: dict[str, float] = {}
        self._measured: dict[str, list[float]] = {}

    def run(self) -> RunOutcome:
        started = time.perf_counter()
        checks = self.plan.checks
        estimate = sum(self.costs.check_s(checks[i]) for i in self.indices)
        work = units(checks, self.costs, self.indices, estimate / (self.jobs * UNITS_PER_JOB))
        scheduler = Scheduler(work)
        slots: list[WorkerProcess | None] = [None] * min(self.jobs, max(len(work), 1))
        interrupted = None
        try:
            while self._dispatch(scheduler, slots):
                self._collect(scheduler, slots)
        except KeyboardInterrupt as exc:
            interrupted = how_interrupted(exc)
            self._interrupt(interrupted, scheduler, slots)
        finally:
            for slot, worker in enumerate(slots):
                if worker is not None:
                    (worker.kill if interrupted else worker.stop)()
                    self._retire(worker)
                    slots[slot] = None
        timing = time_breakdown(
            self._worker_seconds, self._observed, time.perf_counter() - started, len(slots)
        )
        timing["workers_peak_rss_mib"] = sum(self._peaks)
        return RunOutcome(
            results=[self.results[i] for i in sorted(self.results)],
            missing=[(checks[i], self.missing[i]) for i in sorted(self.missing)],
            timing=timing,
            interrupted=interrupted,
            measured_costs={k: (v[0], int(v[1])) for k, v in self._measured.items()},
        )

    def _interrupt(self, how: str, scheduler: Scheduler, slots: list[WorkerProcess | None]) -> None:
        for worker in slots:
            if worker is None:
                continue
            if worker.in_flight is not None:
                self.missing[worker.in_flight] = f"interrupted by {how} while running"
            for index in list(worker.pending)[1:]:
                self.missing[index] = f"not run: interrupted by {how}"
        while scheduler:
            unit = scheduler.next_for(None, set())
            for index in unit.indices if unit else ():
                self.missing[index] = f"not run: interrupted by {how}"

    def _dispatch(self, scheduler: Scheduler, slots: list[WorkerProcess | None]) -> bool:
        """Give every free worker a unit; False once nothing is running or left."""
        busy = False
        for slot, worker in enumerate(slots):
            if worker is not None and worker.pending:
                busy = True
                continue
            batch, unit = self._next_batch(scheduler, worker, slots)
            if not batch:
                if worker is not None:  # nothing left for it: free its memory now
                    worker.stop()
                    self._retire(worker)
                    slots[slot] = None
                continue
            if worker is None:
                worker = slots[slot] = WorkerProcess(self.setup)
            worker.framework = unit.framework if unit else worker.framework
            try:
                worker.send(batch, self.timeout)
            except OSError:  # it died between units: the checks go back, the worker goes
                framework = self.plan.checks[batch[0][0]].adapter.framework
                scheduler.put_back(Unit(tuple(i for i, _ in batch), framework, 0.0))
                worker.pending.clear()
                worker.kill()
                self._retire(worker)
                slots[slot] = None
                continue
            busy = True
        return busy

    def _next_batch(
        self,
        scheduler: Scheduler,
        worker: WorkerProcess | None,
        slots: list[WorkerProcess | None],
    ) -> tuple[list[tuple[int, str]], Unit | None]:
        """The next unit's checks that are still to run (an adapter given up on is left
        out, each check listed as missing)."""
        held = {w.framework for w in slots if w is not None and w is not worker and w.framework}
        while scheduler:
            unit = scheduler.next_for(worker.framework if worker else None, held)
            if unit is None:
                break
            batch = []
            for index in unit.indices:
                if self._given_up(index):
                    self.missing[index] = self._given_up_reason(index)
                else:
                    batch.append((index, self.plan.checks[index].id))
            if batch:
                return batch, unit
        return [], None

    def _collect(self, scheduler: Scheduler, slots: list[WorkerProcess | None]) -> None:
        """Wait for an answer or a deadline, and take in whatever arrived."""
        active = [w for w in slots if w is not None and w.pending]
        if not active:
            return
        wait_s = max(0.0, min(w.deadline for w in active) - time.monotonic())
        ready = wait([w.served.conn for w in active], timeout=wait_s)
        for slot, worker in enumerate(slots):
            if worker is None or not worker.pending:
                continue
            index = worker.pending[0]
            if worker.served.conn in ready:
                since = worker.last_event
                try:
                    while worker.pending and worker.served.conn.poll():
                        answer = worker.receive()
                        self._observe(answer, time.perf_counter() - since)
                        since = worker.last_event
                        self._record(answer)
                except (EOFError, OSError, ValueError, TypeError):  # died, or a torn message
                    index = worker.pending[0]
                    self._worker_died(index, worker.died(), worker, scheduler)
                    self._retire(worker)
                    slots[slot] = None
            elif time.monotonic() >= worker.deadline:
                self._observe_lost(index, time.perf_counter() - worker.last_event)
                worker.kill()
                self._put_back_rest(worker, scheduler)
                self._retire(worker)
                slots[slot] = None
                self._failed(index, _timed_out(self.timeout))

    def _observe(self, answer: Answer, seen_s: float) -> None:
        """Count what the supervisor saw of an answered check, and its measured cost."""
        self._observe_lost(answer.index, seen_s)
        name = self.plan.checks[answer.index].adapter.name
        total = self._measured.setdefault(name, [0.0, 0])
        total[0] += answer.check_s
        total[1] += 1

    def _observe_lost(self, index: int, seen_s: float) -> None:
        """Count the time the supervisor saw a check take (answered or not)."""
        framework = self.plan.checks[index].adapter.framework
        self._observed[framework] = self._observed.get(framework, 0.0) + seen_s

    def _record(self, answer: Answer) -> None:
        check = self.plan.checks[answer.index]
        result = CheckResult(check, answer.judgement, answer.known_bug, answer.framework_s)
        self._store(answer.index, result)
        if answer.judgement.verdict is not Verdict.SKIP:
            self._failures[check.adapter.name] = 0  # it ran to an answer

    def _store(self, index: int, result: CheckResult) -> None:
        self.results[index] = result
        if self.on_result is not None:
            self.on_result(result)

    def _failed(self, index: int, judgement: Judgement) -> None:
        name = self.plan.checks[index].adapter.name
        self._store(index, CheckResult(self.plan.checks[index], judgement, None, 0.0))
        self._failures[name] += 1
        self._last_failure[name] = judgement.detail

    def _put_back_rest(self, worker: WorkerProcess, scheduler: Scheduler) -> None:
        """The checks sent to a dead worker after its in-flight one go back, to run first."""
        rest = tuple(list(worker.pending)[1:])
        worker.pending.clear()
        if rest:
            scheduler.put_back(Unit(rest, self.plan.checks[rest[0]].adapter.framework, 0.0))

    def _worker_died(
        self, index: int, reason: str, worker: WorkerProcess, scheduler: Scheduler
    ) -> None:
        self._put_back_rest(worker, scheduler)
        if index not in self._retried:  # once more on a fresh worker: it may have been
            self._retried.add(index)  # killed from outside (the OOM killer picks the largest)
            scheduler.put_back(Unit((index,), self.plan.checks[index].adapter.framework, 0.0))
            return
        self._failed(index, _crash(reason))

    def _given_up(self, index: int) -> bool:
        return self._failures[self.plan.checks[index].adapter.name] >= MAX_CONSECUTIVE_FAILURES

    def _given_up_reason(self, index: int) -> str:
        name = self.plan.checks[index].adapter.name
        return (
            f"not run: {name} crashed or hung on {MAX_CONSECUTIVE_FAILURES} checks in a row "
            f"(the last: {self._last_failure[name]})"
        )

    def _retire(self, worker: WorkerProcess) -> None:
        """Keep a finished worker's totals for the run's."""
        seconds = worker.totals.get("seconds")
        if isinstance(seconds, dict):
            self._worker_seconds.append(seconds)
        peak = worker.totals.get("peak_rss_mib", 0.0)
        self._peaks.append(float(peak) if isinstance(peak, int | float) else 0.0)
