"""Seconds per BCE call: every adapter x size x dtype x device, forward and
forward+backward (gradient with respect to the input), reduction mean.

The number recorded is the suite's timing core's (``adapters.timing``), the one
``bce-conformance bench`` prints: the call is prepared (inputs converted to the
framework's tensors on the device, loss objects built), its first call (compilation,
tracing, lazy initialisation) made and timed apart, then ``execute`` alone is timed in
calibrated samples and the median is returned. These are asv ``track_`` benchmarks in
seconds, not ``time_`` ones, because asv's own ``time_`` loop calibrates on the first call,
which would fold compilation into the loop count, and a ``setup`` method that could take it
out forces one call per sample.

Parameters an adapter cannot run (an option it lacks, a dtype it is not run at, a GPU that
is absent) are reported as n/a.
"""

from adapters.calls import DEVICES, DTYPES
from benchmarks import measured
from conformance.speed import suite
from conformance.speed.bench import SIZES, BenchCase


def seconds(case: BenchCase) -> float:
    timing = measured(case).timing
    assert timing is not None  # measured() made a missing timing n/a
    return timing.median


class Forward:
    params = (sorted(suite.grid_adapters()), list(SIZES), list(DTYPES), list(DEVICES))
    param_names = ("adapter", "size", "dtype", "device")
    rounds = 1
    timeout = 900

    def track_seconds(self, adapter: str, size: int, dtype: str, device: str) -> float:
        return seconds(BenchCase(adapter, size, dtype, device))

    track_seconds.unit = "seconds"  # type: ignore[attr-defined]


class ForwardBackward(Forward):
    def track_seconds(self, adapter: str, size: int, dtype: str, device: str) -> float:
        return seconds(BenchCase(adapter, size, dtype, device, grad=True))

    track_seconds.unit = "seconds"  # type: ignore[attr-defined]


class Compile:
    """Seconds of the first call of a compiled adapter (torch.compile, jax.jit,
    tf.function(jit_compile=True)): tracing and compilation plus one execution, with the
    framework's on-disk caches as they are. Kept apart from the timings above."""

    params = (
        suite.compiled_adapters(),
        [1_000, 1_000_000],
        ["float32"],
        ["forward", "forward+backward"],
    )
    param_names = ("adapter", "size", "dtype", "pass")
    rounds = 1
    timeout = 900

    def track_first_call_seconds(self, adapter: str, size: int, dtype: str, kind: str) -> float:
        return measured(BenchCase(adapter, size, dtype, grad=kind == "forward+backward")).warmup_s

    track_first_call_seconds.unit = "seconds"  # type: ignore[attr-defined]
