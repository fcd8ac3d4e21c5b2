"""The run's peak memory: resident memory of this process and all its descendants together.

Workers and the Keras backend helpers reach their own peaks at different moments, so the
sum of per-process peaks overstates what the machine ever held (measured on the full
profile: 5031 MiB summed, 4525 MiB sampled). A background thread
sums VmRSS over the process tree every ``interval`` seconds and keeps the largest sum; a
spike shorter than the interval can be missed, which is why the per-process sum is
reported beside it as an upper bound. Linux only (``/proc``); elsewhere it reads 0.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from types import TracebackType

_PROC = Path("/proc")
_VMRSS = re.compile(r"^VmRSS:\s+(\d+) kB", re.MULTILINE)
_VMHWM = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)
_PPID = re.compile(r"^PPid:\s+(\d+)", re.MULTILINE)


def _status(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "status").read_text(encoding="ascii")
    except OSError:  # the process ended between listing and reading
        return ""


def process_peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MiB; 0 if it is gone."""
    peak = _VMHWM.search(_status(pid))
    return int(peak.group(1)) / 1024 if peak else 0.0


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and every process descended from it, in MiB."""
    parents: dict[int, int] = {}
    statuses: dict[int, str] = {}
    for entry in _PROC.glob("[0-9]*"):
        pid = int(entry.name)
        status = _status(pid)
        ppid = _PPID.search(status)
        if ppid:
            parents[pid], statuses[pid] = int(ppid.group(1)), status
    total_kib = 0
    for pid, status in statuses.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
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
