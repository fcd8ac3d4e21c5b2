"""The supervisor's handle on one check worker: a served process (``adapters/served.py``)
sent batches of checks, with the checks it has not answered yet and their deadline.

A worker is not a daemon (daemons may not start processes, and the Keras backend helpers
are a worker's children); the supervisor stops or kills every worker it starts, and a
worker whose supervisor died exits on the pipe's end. A kill takes the worker's process
group and every descendant found in /proc.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence

from adapters.served import ServedProcess
from conformance.running.worker import Answer, CheckServer, WorkerSetup


class WorkerProcess:
    """One supervised worker, the checks it was sent and has not answered, and the
    framework it holds (for the scheduler's affinity)."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.served = ServedProcess(
            "bce-conformance-worker", CheckServer, (setup,), own_group=True, daemon=False
        )
        self.pending: deque[int] = deque()
        self.deadline = math.inf
        self._timeout = math.inf
        self.last_event = time.perf_counter()
        self.framework: str | None = None
        self.totals: dict[str, object] = {}

    @property
    def in_flight(self) -> int | None:
        """The check the worker is running now (the first unanswered one), or None."""
        return self.pending[0] if self.pending else None

    def send(self, batch: Sequence[tuple[int, str]], timeout: float) -> None:
        """Send checks to run in order; each gets ``timeout`` seconds from the answer before
        it. OSError when the worker is gone."""
        self.pending.extend(index for index, _ in batch)
        self.served.send(list(batch))
        self.last_event = time.perf_counter()
        self.deadline = time.monotonic() + timeout
        self._timeout = timeout

    def receive(self) -> Answer:
        """The in-flight check's answer; EOFError/OSError when the worker died."""
        answer: Answer = self.served.receive()
        if answer.index != self.in_flight:
            raise OSError(f"answer for check {answer.index}, expected {self.in_flight}")
        self.pending.popleft()
        if answer.totals is not None:
            self.totals = answer.totals
        self.last_event = time.perf_counter()
        self.deadline = time.monotonic() + self._timeout if self.pending else math.inf
        return answer

    def kill(self) -> str:
        """Kill the worker and every process it started; how it had ended, if it had."""
        return self.served.kill()

    def died(self) -> str:
        """After EOF: how the worker ended (waiting briefly for its exit status)."""
        return self.served.died()

    def stop(self) -> None:
        """Ask the worker to finish; kill it (and what it left running) if it does not."""
        self.served.stop()
