"""The supervisor's handle on one worker process: start it, send it a batch of checks,
read its answers, and kill it with every process it started.

Workers start with ``spawn`` (fresh interpreters: CUDA and the frameworks' thread pools
do not survive ``fork``). A worker is not a daemon (daemons may not start processes, and
the Keras backend helpers are a worker's children); the supervisor stops or kills every
worker it starts, and a worker whose supervisor died exits on the pipe's end. Killing
takes the worker's process group and every descendant found in /proc, so a child that
moved to a new session (``start_new_session=True``) dies with it.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Sequence

from conformance.running.memory import descendants
from conformance.running.worker import Answer, WorkerSetup, serve

_STOP_WAIT_S = 30.0


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


class WorkerProcess:
    """One supervised worker, the checks it was sent and has not answered, and the
    framework it holds (for the scheduler's affinity)."""

    def __init__(self, setup: WorkerSetup) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(child, setup), daemon=False, name="bce-conformance-worker"
        )
        self.process.start()
        child.close()  # the worker's death then reads as EOF here
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
        self.conn.send(list(batch))
        self.last_event = time.perf_counter()
        self.deadline = time.monotonic() + timeout
        self._timeout = timeout

    def receive(self) -> Answer:
        """The in-flight check's answer; EOFError/OSError when the worker died."""
        answer: Answer = self.conn.recv()
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
        exitcode = self.process.exitcode
        pid = self.process.pid
        if pid is not None:
            tree = descendants(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            for child in tree:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGKILL)
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
        """Ask the worker to finish; kill it (and what it left running) if it does not."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=_STOP_WAIT_S)
        self.kill()
