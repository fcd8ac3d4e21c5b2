"""Achieved throughput as a share of this machine's roofline, and the machine's own figures.

The roofline is the bandwidth of a large memory copy (``conformance.speed.bench
.copy_bandwidth``), measured once per asv run in ``setup_cache``, before any benchmark of
this module; a BCE call's throughput is the bytes it must move (read input and target,
write the result; the backward pass reads both again and writes the gradient) over its
median time from the timing core. At 1e7 elements every array is far outside the caches.
"""

from adapters.timing import overhead
from benchmarks import measured
from conformance.speed import suite
from conformance.speed.bench import BenchCase, copy_bandwidth


def measure_bandwidth() -> float:
    return copy_bandwidth()


measure_bandwidth.timeout = 300  # type: ignore[attr-defined]


class Roofline:
    params = (sorted(suite.grid_adapters()), [10_000_000], ["float32", "float64"],
              ["forward", "forward+backward"])  # fmt: skip
    param_names = ("adapter", "size", "dtype", "pass")
    rounds = 1
    timeout = 900
    setup_cache = staticmethod(measure_bandwidth)

    def track_percent(
        self, bandwidth: float, adapter: str, size: int, dtype: str, kind: str
    ) -> float:
        case = BenchCase(adapter, size, dtype, grad=kind == "forward+backward")
        throughput = measured(case).throughput()
        assert throughput is not None  # measured() made a missing timing n/a
        return 100 * throughput / bandwidth

    track_percent.unit = "% of copy bandwidth"  # type: ignore[attr-defined]


class Machine:
    rounds = 1
    setup_cache = staticmethod(measure_bandwidth)

    def track_copy_bandwidth(self, bandwidth: float) -> float:
        return bandwidth / 1e9

    track_copy_bandwidth.unit = "GB/s"  # type: ignore[attr-defined]

    def track_timing_core_overhead(self, bandwidth: float) -> float:
        """Seconds the timing core's own loop adds per call (a call that does nothing)."""
        return overhead().median

    track_timing_core_overhead.unit = "seconds"  # type: ignore[attr-defined]
