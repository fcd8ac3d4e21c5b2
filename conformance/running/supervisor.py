"""Run checks in supervised worker processes: a hang or a crash costs one check, not the run.

The supervisor (this process) never imports a framework. It starts worker processes with
``spawn`` (fresh interpreters: CUDA and the frameworks' thread pools do not survive
``fork``); each rebuilds the same plan from the same options (plans are deterministic) and
then runs the checks it is sent, one at a time, answering each with its verdict. So the
supervisor always knows which check is running, and:

- a check that runs past the timeout (default ``DEFAULT_TIMEOUT_S``) is an ``error`` verdict,
  "timed out after N s"; its worker is killed with everything it started (each worker leads
  its own process group, so the Keras backend helpers die with it) and a fresh worker takes
  the remaining checks;
- a worker that dies (segfault, abort, the OOM killer's SIGKILL, ``os._exit``) makes the
  check it was running an ``error`` verdict naming the signal or exit status. That check is
  first retried once on a fresh worker, so a worker killed from outside costs nothing;
- an adapter that crashes or hangs on ``MAX_CONSECUTIVE_FAILURES`` checks in a row has its
  remaining checks left out, each listed as missing with the reason, instead of paying a
  timeout or a restart per check;
- Ctrl-C (SIGINT) and SIGTERM (what CI sends on a timeout) stop the run: the workers are
  killed, and every check that had not finished is listed as missing.

A run is ``complete`` when every planned check has a verdict from a call that ended: it
returned, raised, crashed or timed out (those last two are the adapter's result, an
``error``). Checks never run (interrupted, or left out after repeated crashes) are missing.
Checks of one worker never depend on another: the pool is not shared, so one adapter
crashing loses no other adapter's checks.

Workers run their share whole frameworks at a time, releasing each framework's helper
processes before the next starts. ``run_in_process`` runs the same checks without
isolation, for debugging (``--isolation none``).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from adapters.base import Adapter
from conformance.engine.matrix import Check, CheckResult, Plan, Runner, build_plan
from conformance.engine.verdicts import Judgement, Verdict
from conformance.known_bugs import KnownBug, load_known_bugs
from conformance.running.memory import process_peak_mib

DEFAULT_TIMEOUT_S = 120.0
"""Per check, from the moment it is sent, so it covers a fresh worker's start and the
framework's import (TensorFlow: ~9 s here) and a compiled mode's first compilation
(torch.compile: up to ~20 s per graph on this CPU): the slowest healthy check measured is
about 30 s, a 4x margin."""
MAX_CONSECUTIVE_FAILURES = 3
"""Crashes or timeouts of one adapter in a row before its remaining checks are left out."""
_STOP_WAIT_S = 30.0


class Interrupted(KeyboardInterrupt):
    """The run was stopped from outside: Ctrl-C (SIGINT) or SIGTERM."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Interrupted`` like Ctrl-C raises KeyboardInterrupt."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _how(exc: KeyboardInterrupt) -> str:
    return exc.how if isinstance(exc, Interrupted) else "Ctrl-C (SIGINT)"


@dataclass
class RunOutcome:
    """What a run produced: verdicts in plan order, and the checks that have none."""

    results: list[CheckResult]
    missing: list[tuple[Check, str]]
    timing: dict[str, float]
    interrupted: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing


def peak_rss_mib() -> float:
    """Peak resident memory of this process plus that of the helper processes it still runs
    (the Keras backend workers); Linux reports ru_maxrss in KiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = multiprocessing.active_children()
    return own + sum(process_peak_mib(child.pid) for child in helpers if child.pid)


# One compute thread per worker when several run: the workers already fill the cores, and
# the frameworks' own pools would oversubscribe them (measured on 2 cores: 2 workers with
# default threads spent 51 s in the frameworks against 31 s for one process). Set before
# any framework is imported.
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


# --- worker side -----------------------------------------------------------------------


@dataclass
class _FrameworkGroup:
    """The adapters of the framework a worker is running, released when it moves on."""

    framework: str | None = None
    adapters: dict[int, Adapter] = field(default_factory=dict)
    peak_mib: float = 0.0

    def enter(self, adapter: Adapter) -> None:
        if adapter.framework != self.framework:
            self.release()
            self.framework = adapter.framework
        self.adapters[id(adapter)] = adapter

    def release(self) -> None:
        self.peak_mib = max(self.peak_mib, peak_rss_mib())  # before the helpers go
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):  # a broken release() costs nothing here
                adapter.release()
        self.adapters.clear()


def _serve(
    conn: Connection,
    plan_options: dict[str, Any],
    sys_path: list[str],
    one_thread: bool,
    stderr_path: str | None,
) -> None:
    """A worker: rebuild the plan, then answer each (index, check id) with its verdict.
    With ``stderr_path``, its standard error (and that of the helpers it starts) goes to
    that file: the frameworks' C++ start-up lines (absl, oneDNN, XLA) write to file
    descriptor 2 directly, so only redirecting the descriptor silences them."""
    os.setpgid(0, 0)  # its own group: killed with its helpers; a terminal's Ctrl-C skips it
    if stderr_path is not None:
        log = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
        os.close(log)
    if one_thread:
        os.environ.update(ONE_THREAD_ENV)
    sys.path[:] = sys_path  # third-party adapters named by module:object must import here too
    plan = build_plan(**plan_options)
    runner = Runner(load_known_bugs())
    group = _FrameworkGroup()
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the supervisor is gone
            break
        if message is None:
            break
        index, check_id = message
        judgement, bug, seconds = _run_one(plan, runner, group, index, check_id)
        totals = {
            "reference_s": runner.references.seconds,
            "framework_s": runner.framework_seconds,
            "compile_s": runner.compile_seconds,
            "peak_rss_mib": max(group.peak_mib, peak_rss_mib()),
        }
        conn.send((index, judgement, bug, seconds, totals))
    group.release()


def _run_one(
    plan: Plan, runner: Runner, group: _FrameworkGroup, index: int, check_id: str
) -> tuple[Judgement, KnownBug | None, float]:
    if not 0 <= index < len(plan.checks) or plan.checks[index].id != check_id:
        detail = f"the worker's plan has no check {check_id!r} at {index}: plans differ"
        return Judgement(Verdict.ERROR, detail), None, 0.0
    check = plan.checks[index]
    group.enter(check.adapter)
    try:
        result = runner.run(check)
    except BaseException as exc:  # SystemExit from an adapter, or the suite's own bug
        detail = f"the check stopped with {type(exc).__name__}: {str(exc)[:300]}"
        return Judgement(Verdict.ERROR, detail), None, 0.0
    return result.judgement, result.known_bug, result.framework_seconds


# --- supervisor side -------------------------------------------------------------------


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, for a verdict: the signal's name and meaning, or the status."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            number = signal.Signals(-exitcode)
        except ValueError:
            return f"it was killed by signal {-exitcode}"
        meaning = signal.strsignal(number) or ""
        note = " (out of memory, or killed from outside)" if number is signal.SIGKILL else ""
        return f"it was killed by {number.name} ({meaning}){note}"
    return f"it exited with status {exitcode}"


class _Worker:
    """One supervised worker process and the check it is running."""

    def __init__(
        self, plan_options: dict[str, Any], one_thread: bool, stderr_path: str | None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve,
            args=(child, plan_options, list(sys.path), one_thread, stderr_path),
            # not a daemon: daemons may not start processes, and the Keras backend helpers
            # are the worker's children. The supervisor stops or kills every worker it
            # starts, and a worker whose supervisor died exits on the pipe's EOF.
            daemon=False,
            name="bce-conformance-worker",
        )
        self.process.start()
        child.close()  # the worker's death then reads as EOF here
        self.in_flight: int | None = None
        self.deadline = math.inf
        self.totals: dict[str, float] = {}

    def send(self, index: int, check_id: str, timeout: float) -> None:
        self.in_flight, self.deadline = index, time.monotonic() + timeout
        self.conn.send((index, check_id))

    def receive(self) -> tuple[int, Judgement, KnownBug | None, float]:
        """The in-flight check's result; EOFError/OSError when the worker died."""
        index, judgement, bug, seconds, totals = self.conn.recv()
        self.totals, self.in_flight, self.deadline = totals, None, math.inf
        return index, judgement, bug, seconds

    def kill(self) -> str:
        """Kill the worker and every process it started; how it had ended, if it had."""
        exitcode = self.process.exitcode
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(timeout=_STOP_WAIT_S)
        self.conn.close()
        return describe_exit(exitcode)

    def died(self) -> str:
        """After EOF: how the worker ended (waiting briefly for its exit status)."""
        self.process.join(timeout=5)
        exitcode = self.process.exitcode
        self.kill()  # its helpers may outlive it
        return describe_exit(exitcode)

    def stop(self) -> None:
        """Ask the worker to finish; kill it if it does not."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=_STOP_WAIT_S)
        self.kill()


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


class Supervisor:
    """Runs a plan's checks in ``jobs`` worker processes (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        plan_options: dict[str, Any],
        *,
        jobs: int,
        timeout: float,
        on_result: Callable[[CheckResult], None] | None = None,
        stderr_path: str | None = None,
    ) -> None:
        """``on_result`` is told of every verdict as it arrives (progress displays);
        ``stderr_path`` receives the workers' standard error (None: this one's)."""
        self.plan, self.plan_options = plan, plan_options
        self.jobs, self.timeout = max(jobs, 1), timeout
        self.on_result, self.stderr_path = on_result, stderr_path
        self.results: dict[int, CheckResult] = {}
        self.missing: dict[int, str] = {}
        self._retried: set[int] = set()
        self._failures: Counter[str] = Counter()
        self._last_failure: dict[str, str] = {}
        self._peaks: list[float] = []
        self._totals: Counter[str] = Counter()

    def run(self) -> RunOutcome:
        queues = [deque(group) for group in _queues(self.plan, self.jobs)]
        workers: list[_Worker | None] = [None] * len(queues)
        interrupted = None
        try:
            while self._dispatch(queues, workers):
                self._collect(queues, workers)
        except KeyboardInterrupt as exc:
            interrupted = _how(exc)
            for queue, worker in zip(queues, workers, strict=True):
                if worker is not None and worker.in_flight is not None:
                    self.missing[worker.in_flight] = f"interrupted by {interrupted} while running"
                for index in queue:
                    self.missing[index] = f"not run: interrupted by {interrupted}"
        finally:
            for slot, worker in enumerate(workers):
                if worker is not None:
                    (worker.kill if interrupted else worker.stop)()
                    self._retire(worker)
                    workers[slot] = None
        timing = {k: float(v) for k, v in self._totals.items()}
        timing["workers_peak_rss_mib"] = sum(self._peaks)
        checks = self.plan.checks
        return RunOutcome(
            results=[self.results[i] for i in sorted(self.results)],
            missing=[(checks[i], self.missing[i]) for i in sorted(self.missing)],
            timing=timing,
            interrupted=interrupted,
        )

    def _dispatch(self, queues: list[deque[int]], workers: list[_Worker | None]) -> bool:
        """Send the next check to every idle worker; False once nothing is left anywhere."""
        busy = False
        for slot, queue in enumerate(queues):
            worker = workers[slot]
            if worker is not None and worker.in_flight is not None:
                busy = True
                continue
            while queue and self._given_up(queue[0]):
                index = queue.popleft()
                self.missing[index] = self._given_up_reason(index)
            if not queue:
                if worker is not None:
                    worker.stop()
                    self._retire(worker)
                    workers[slot] = None
                continue
            if worker is None:
                worker = workers[slot] = _Worker(
                    self.plan_options, one_thread=self.jobs > 1, stderr_path=self.stderr_path
                )
            index = queue.popleft()
            try:
                worker.send(index, self.plan.checks[index].id, self.timeout)
            except OSError:  # it died between checks: the check goes back, the worker goes
                queue.appendleft(index)
                worker.kill()
                self._retire(worker)
                workers[slot] = None
                continue
            busy = True
        return busy

    def _collect(self, queues: list[deque[int]], workers: list[_Worker | None]) -> None:
        """Wait for a result or a deadline, and take in whatever arrived."""
        active = [w for w in workers if w is not None and w.in_flight is not None]
        if not active:
            return
        wait_s = max(0.0, min(w.deadline for w in active) - time.monotonic())
        ready = wait([w.conn for w in active], timeout=wait_s)
        for slot, worker in enumerate(workers):
            if worker is None or worker.in_flight is None:
                continue
            index = worker.in_flight
            if worker.conn in ready:
                try:
                    _, judgement, bug, seconds = worker.receive()
                except (EOFError, OSError, ValueError, TypeError):  # died, or a torn message
                    self._worker_died(index, worker.died(), queues[slot])
                    self._retire(worker)
                    workers[slot] = None
                    continue
                self._record(index, judgement, bug, seconds)
            elif time.monotonic() >= worker.deadline:
                worker.kill()
                self._retire(worker)
                workers[slot] = None
                self._failed(index, _timed_out(self.timeout))

    def _record(self, index: int, judgement: Judgement, bug: KnownBug | None, seconds: float):
        check = self.plan.checks[index]
        self._store(index, CheckResult(check, judgement, bug, seconds))
        if judgement.verdict is not Verdict.SKIP:
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

    def _worker_died(self, index: int, reason: str, queue: deque[int]) -> None:
        if index not in self._retried:  # once more on a fresh worker: it may have been
            self._retried.add(index)  # killed from outside (the OOM killer picks the largest)
            queue.appendleft(index)
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

    def _retire(self, worker: _Worker) -> None:
        """Add a finished worker's totals to the run's."""
        for key in ("reference_s", "framework_s", "compile_s"):
            self._totals[key] += worker.totals.get(key, 0.0)  # type: ignore[assignment]
        self._peaks.append(worker.totals.get("peak_rss_mib", 0.0))


def _queues(plan: Plan, jobs: int) -> list[list[int]]:
    """Each worker's checks: its share, whole frameworks at a time."""
    shares = shares_by_framework(plan, jobs) if jobs > 1 else [list(range(len(plan.checks)))]
    return [[i for group in by_framework(plan.checks, share) for i in group] for share in shares]


def by_framework(checks: Sequence[Check], indices: Sequence[int]) -> list[list[int]]:
    """``indices`` grouped by framework, in plan (case) order within each group: one
    framework's helper processes (the Keras backend workers) can then be released before
    the next starts, instead of all of them living through the run (measured on the full
    profile: per-process peaks summed to 8.4 GiB with all four alive)."""
    groups: dict[str, list[int]] = {}
    for index in indices:
        groups.setdefault(checks[index].adapter.framework, []).append(index)
    return list(groups.values())


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


class SupervisedRunner:
    """One check at a time in one supervised worker: the pytest front end's runner. The
    same protection as ``Supervisor``: a timeout or a crash is that check's ``error``
    verdict, and a fresh worker runs the next check."""

    def __init__(self, plan: Plan, plan_options: dict[str, Any], *, timeout: float) -> None:
        self.plan, self.plan_options, self.timeout = plan, plan_options, timeout
        self._index = {check.id: i for i, check in enumerate(plan.checks)}
        self._worker: _Worker | None = None

    def run(self, check: Check) -> CheckResult:
        index = self._index[check.id]
        for attempt in (1, 2):
            worker = self._worker or _Worker(self.plan_options, one_thread=False, stderr_path=None)
            self._worker = worker
            try:
                worker.send(index, check.id, self.timeout)
            except OSError:
                reason = worker.died()
            else:
                if not wait([worker.conn], timeout=self.timeout):
                    self.close()
                    return CheckResult(check, _timed_out(self.timeout), None, 0.0)
                try:
                    _, judgement, bug, seconds = worker.receive()
                    return CheckResult(check, judgement, bug, seconds)
                except (EOFError, OSError, ValueError, TypeError):
                    reason = worker.died()
            self._worker = None
            if attempt == 2:
                return CheckResult(check, _crash(reason), None, 0.0)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None


def run_in_process(
    plan: Plan,
    bugs: Sequence[KnownBug],
    on_result: Callable[[CheckResult], None] | None = None,
) -> RunOutcome:
    """All checks in this process, without isolation (``--isolation none``: debuggers,
    profilers); stops cleanly on Ctrl-C or SIGTERM with what ran so far."""
    runner = Runner(bugs)
    results: dict[int, CheckResult] = {}
    group = _FrameworkGroup()
    interrupted = None
    order = [i for g in by_framework(plan.checks, range(len(plan.checks))) for i in g]
    try:
        for index in order:
            group.enter(plan.checks[index].adapter)
            results[index] = runner.run(plan.checks[index])
            if on_result is not None:
                on_result(results[index])
    except KeyboardInterrupt as exc:
        interrupted = _how(exc)
    group.release()
    reason = f"not run: interrupted by {interrupted}"
    missing = [(plan.checks[i], reason) for i in range(len(plan.checks)) if i not in results]
    timing = {
        "reference_s": runner.references.seconds,
        "framework_s": runner.framework_seconds,
        "compile_s": runner.compile_seconds,
        "workers_peak_rss_mib": 0.0,
    }
    return RunOutcome([results[i] for i in sorted(results)], missing, timing, interrupted)
