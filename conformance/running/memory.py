"""The peak memory of a run's process tree, and of one worker with its helpers.

Peak memory is the resident memory of this process and all its descendants together.

Workers and the Keras backend helpers reach their own peaks at different moments, so the
sum of per-process peaks overstates what the machine ever held (measured on the full
profile: 5031 MiB summed, 4525 MiB sampled). A background thread
sums VmRSS over the process tree every ``interval`` seconds and keeps the largest sum; a
spike shorter than the interval can be missed, which is why the per-process sum is
reported beside it as an upper bound. The process tree is read from /proc
(``adapters/served.py``); elsewhere memory reads 0.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import resource
import threading
from pathlib import Path
from types import TracebackType

from adapters.served import descends_from, process_table

_PROC = Path("/proc")
_VMRSS = re.compile(r"^VmRSS:\s+(\d+) kB", re.MULTILINE)
_VMHWM = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)


def _status(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "status").read_text(encoding="ascii")
    except OSError:  # the process ended between listing and reading
        return ""


def process_peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MiB; 0 if it is gone."""
    peak = _VMHWM.search(_status(pid))
    return int(peak.group(1)) / 1024 if peak else 0.0


def peak_rss_mib() -> float:
    """Peak resident memory of this process plus that of the helper processes it still runs
    (the Keras backend workers); Linux reports ru_maxrss in KiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = multiprocessing.active_children()
    return own + sum(process_peak_mib(child.pid) for child in helpers if child.pid)


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and every process descended from it, in MiB."""
    table = process_table()
    total_kib = 0
    for pid, (_, status) in table.items():
        if descends_from(pid, root, table):
            rss = _VMRSS.search(status)
            total_kib += int(rss.group(1)) if rss else 0
    return total_kib / 1024


class TreeMemorySampler:
    """``with TreeMemorySampler() as sampler: ...``; then ``sampler.peak_mib``."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        root = os.getpid()
        while True:
            self.peak_mib = max(self.peak_mib, tree_rss_mib(root))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
