"""How a run is stopped from outside: Ctrl-C (SIGINT) and SIGTERM (what CI sends on a
timeout) both raise ``KeyboardInterrupt`` in the supervising process, which then kills its
workers and reports every unfinished check as missing."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


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


def how_interrupted(exc: KeyboardInterrupt) -> str:
    """What stopped the run, for the report."""
    return exc.how if isinstance(exc, Interrupted) else "Ctrl-C (SIGINT)"
