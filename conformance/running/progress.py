"""Progress of a run, shown while it runs: a bar in a terminal, plain lines in a log.

In a terminal, rich draws one bar for the whole run and one per framework, with counts,
elapsed time and the fails and errors so far. When standard output is not a terminal (CI
logs, a pipe), a line is printed each time a framework's checks are all done, and a
total at most every ``LINE_EVERY_S`` seconds, so a long run is never silent.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from conformance.engine.matrix import Check, CheckResult

LINE_EVERY_S = 30.0


class RunProgress:
    """Call it with each CheckResult as it arrives; use it as a context manager."""

    def __init__(self, checks: Sequence[Check], stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.planned = Counter(c.adapter.framework for c in checks)
        self.total = len(checks)
        self.done: Counter[str] = Counter()
        self.bad: Counter[str] = Counter()
        self.unexplained: Counter[str] = Counter()
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        if self.stream.isatty() and self.total:
            self._bar = Progress(
                TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[bad]}"), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=False,
            )  # fmt: skip
            self._bar.start()
            self._tasks["*"] = self._bar.add_task("all checks", total=self.total, bad="")
            for framework, count in sorted(self.planned.items()):
                self._tasks[framework] = self._bar.add_task(framework, total=count, bad="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, result: CheckResult) -> None:
        framework = result.check.adapter.framework
        self.done[framework] += 1
        if result.verdict.failed:
            self.bad[framework] += 1
            self.unexplained[framework] += result.is_finding
        if self._bar is not None:
            self._bar.update(self._tasks[framework], advance=1, bad=self._bad(framework))
            self._bar.update(self._tasks["*"], advance=1, bad=self._bad())
            return
        now = time.monotonic()
        if self.done[framework] == self.planned[framework]:
            done = self.planned[framework]
            self._line(f"{framework}: {done} checks done, {self._bad(framework)}")
        elif now - self._last_line >= LINE_EVERY_S:
            self._line(f"{sum(self.done.values())}/{self.total} checks")

    def _bad(self, framework: str | None = None) -> str:
        """'12 fail/error (3 unexplained)': unexplained ones are not registered known bugs."""
        if framework is None:
            bad, unexplained = sum(self.bad.values()), sum(self.unexplained.values())
        else:
            bad, unexplained = self.bad[framework], self.unexplained[framework]
        return f"{bad} fail/error ({unexplained} unexplained)"

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        elapsed = self._last_line - self.started
        print(f"[{elapsed:6.0f} s] {text}", file=self.stream, flush=True)
