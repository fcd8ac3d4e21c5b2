"""A check worker: a served process (``adapters/served.py``) that builds the plan, then runs
the batches of checks it is sent, answering each check the moment it finishes.

Answering check by check is what lets the supervisor (``supervisor.py``) know which check
is running when the worker hangs or dies; sending checks in batches (a work unit of
``scheduling.py``) keeps the pipe out of the way of checks that take microseconds. The
worker applies its environment (one compute thread, the cache directory's compiler
settings) before any framework is imported, leads its own process group (so it and its
Keras backend helpers, served processes too, are killed together, and a terminal's Ctrl-C
reaches only the supervisor), and
releases one framework's helper processes before it runs checks of the next.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import Adapter
from conformance.engine.matrix import Plan, Runner, build_plan
from conformance.engine.reference_store import ReferenceCache, ReferenceStore
from conformance.engine.verdicts import Judgement
from conformance.known_bugs import KnownBug, load_known_bugs
from conformance.running.memory import peak_rss_mib
from conformance.vocabulary import Verdict


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs to rebuild the supervisor's plan and run like it."""

    plan_options: dict[str, Any]
    sys_path: tuple[str, ...]
    """The supervisor's: plug-in adapters named by module:object import here too."""
    environment: dict[str, str]
    """Set before any framework is imported (thread counts, compilation caches)."""
    stderr_path: str | None = None
    """Where the worker's standard error goes (None: the supervisor's)."""
    cache_dir: str | None = None
    """The suite's cache directory, for references kept between runs (None: none)."""


@dataclass(frozen=True)
class Answer:
    """One finished check, as the worker reports it."""

    index: int
    judgement: Judgement
    known_bug: KnownBug | None
    framework_s: float
    """The framework's calls, as the report's per-check ``seconds``."""
    check_s: float
    """The whole check in the worker: calls, compilation, reference, verdict."""
    totals: dict[str, Any] | None = None
    """With the last answer of a batch: the worker's cumulative ``Runner.seconds`` and its
    peak memory (``peak_rss_mib``)."""


@dataclass
class FrameworkGroup:
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


class CheckServer:
    """The worker's handler (``adapters/served.py``): set up before any framework is
    imported, then each message is a batch [(index, check id), ...] whose checks are
    answered one ``Answer`` at a time, as each finishes."""

    def __init__(self, setup: WorkerSetup) -> None:
        if setup.stderr_path is not None:
            # the frameworks' C++ start-up lines (absl, oneDNN, XLA) write to descriptor 2
            # directly, so only redirecting the descriptor silences them
            log = os.open(setup.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 2)
            os.close(log)
        os.environ.update(setup.environment)
        sys.path[:] = list(setup.sys_path)
        self.plan = build_plan(**setup.plan_options)
        self.store = ReferenceStore(Path(setup.cache_dir)) if setup.cache_dir else None
        self.runner = Runner(load_known_bugs(), ReferenceCache(self.store))
        self.group = FrameworkGroup()

    def __call__(self, batch: list[tuple[int, str]]) -> Iterator[Answer]:
        for position, (index, check_id) in enumerate(batch):
            start = time.perf_counter()
            judgement, bug, framework_s = run_one(
                self.plan, self.runner, self.group, index, check_id
            )
            totals = None
            if position == len(batch) - 1:
                peak = max(self.group.peak_mib, peak_rss_mib())
                totals = {"seconds": self.runner.seconds, "peak_rss_mib": peak}
            check_s = time.perf_counter() - start
            yield Answer(index, judgement, bug, framework_s, check_s, totals)

    def close(self) -> None:
        self.group.release()
        if self.store is not None:
            self.store.close()


def run_one(
    plan: Plan, runner: Runner, group: FrameworkGroup, index: int, check_id: str
) -> tuple[Judgement, KnownBug | None, float]:
    """One check's verdict, known bug and framework seconds; never raises."""
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
