"""The timing core: the one way a framework call is timed, used by the asv benchmarks and
by ``bce-conformance bench`` alike, so the two never disagree. It lives with the adapters
(``Adapter.time``, the Keras backend helpers time in their own process) and imports only
the standard library, so the adapters need nothing from the suite above them.

What is timed is a prepared call's ``execute`` (``adapters.base.Prepared``): the
framework's BCE and the synchronisation its result needs, on inputs already converted to
the framework's tensors on the device, with loss objects built and compilation done.
Converting results back to NumPy is never inside.

Method (as ``timeit`` and ``torch.utils.benchmark`` do): the number of calls per sample
is doubled until one sample lasts ``MIN_SAMPLE_S``, so the clock's resolution and the
loop's own cost vanish against the work; then ``repeats`` samples are taken and each gives
one per-call time. The median is the result, the quartiles and extremes its spread. The
loop's own cost per call (``overhead``) is measured the same way on a call that does
nothing.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

MIN_SAMPLE_S = 0.02
"""Shortest sample: 20 ms is five orders of magnitude above perf_counter's resolution where
it is a microsecond or finer (``time.get_clock_info("perf_counter").resolution`` says), so
the clock's error per sample stays below 1e-5; a 10 us call is looped 2000 times."""
REPEATS = 11
"""Samples per measurement; odd, so the median is one of them."""
MAX_NUMBER = 1 << 24


@dataclass(frozen=True)
class Timing:
    """Seconds per call."""

    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    number: int
    """Calls per sample."""
    repeats: int

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sample(execute: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` back-to-back calls."""
    loop = range(number)
    start = time.perf_counter()
    for _ in loop:
        execute()
    return (time.perf_counter() - start) / number


def calibrate(execute: Callable[[], Any], min_sample_s: float = MIN_SAMPLE_S) -> int:
    """Calls per sample so that one sample lasts at least ``min_sample_s``."""
    number = 1
    while number < MAX_NUMBER:
        if sample(execute, number) * number >= min_sample_s:
            return number
        number *= 2
    return number


def measure(
    execute: Callable[[], Any],
    *,
    min_sample_s: float = MIN_SAMPLE_S,
    repeats: int = REPEATS,
) -> Timing:
    """Time ``execute`` (already warmed up: the first call is not special here)."""
    number = calibrate(execute, min_sample_s)
    enabled = gc.isenabled()
    gc.disable()  # a collection landing in one sample is noise, not the framework's cost
    try:
        samples = sorted(sample(execute, number) for _ in range(repeats))
    finally:
        if enabled:
            gc.enable()
    q1, _, q3 = statistics.quantiles(samples, n=4) if repeats > 1 else (samples[0],) * 3
    return Timing(
        median=statistics.median(samples),
        q1=q1,
        q3=q3,
        minimum=samples[0],
        maximum=samples[-1],
        number=number,
        repeats=repeats,
    )


def warm_and_measure(execute: Callable[[], Any]) -> tuple[Timing, float]:
    """(Timing, seconds of the first call): the first call (compilation, caches, lazy
    initialisation) is made and timed apart, then ``measure`` times the rest."""
    start = time.perf_counter()
    execute()
    warmup = time.perf_counter() - start
    return measure(execute), warmup


def overhead(repeats: int = REPEATS) -> Timing:
    """The core's own cost per call: the loop around a call that does nothing."""
    return measure(_nothing, repeats=repeats)


def _nothing() -> None:
    return None
