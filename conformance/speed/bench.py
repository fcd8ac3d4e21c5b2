"""Speed of each adapter's BCE: inputs, the roofline, and one measurement per parameter set.

Shared by ``bce-conformance bench`` and the asv benchmarks. Inputs are seeded random
arrays (probabilities uniform in (0, 1) or logits N(0, 3); Bernoulli(0.5) targets), made
once per (form, size, dtype) and handed to the adapter's ``prepare`` (``adapters.base``):
conversion to the framework's tensors, loss objects and compilation happen there; the
first ``execute`` (a warm-up: compilation, caches, lazy initialisation) is timed apart as
``warmup_s``; then ``adapters.timing.measure`` times ``execute`` alone
(``Adapter.time``; the Keras backends do this inside their worker processes).

Throughput is stated against this machine's roofline: the bytes BCE must move (read the
input and the target, write the result; a backward pass reads both again and writes the
gradient) divided by the time, as a share of the bandwidth of a large memory copy
(``copy_bandwidth``, measured by the bench command before any framework is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from adapters.base import Adapter
from adapters.calls import Call
from adapters.timing import Timing, measure
from conformance.engine.dtypes import float_format

SIZES = (1_000, 100_000, 1_000_000, 10_000_000)
COPY_BYTES = 256 << 20
"""Large enough to leave every cache: 256 MiB per array (L3 here is tens of MiB)."""


@dataclass(frozen=True)
class BenchCase:
    adapter: str
    size: int
    dtype: str
    device: str = "cpu"
    grad: bool = False
    reduction: str = "mean"

    @property
    def label(self) -> str:
        kind = "forward+backward" if self.grad else "forward"
        return f"{self.adapter} {kind} n={self.size:g} {self.dtype} {self.device}"


@dataclass(frozen=True)
class BenchResult:
    case: BenchCase
    timing: Timing | None
    warmup_s: float = 0.0
    bytes_moved: int = 0
    skipped: str | None = None
    """Why there is no timing (an option the adapter lacks, no GPU, ...)."""
    includes_conversion: bool = False

    def throughput(self) -> float | None:
        """Bytes per second at the median time."""
        if self.timing is None or self.timing.median <= 0:
            return None
        return self.bytes_moved / self.timing.median

    def to_json(self) -> dict[str, Any]:
        throughput = self.throughput()
        return {
            "adapter": self.case.adapter,
            "size": self.case.size,
            "dtype": self.case.dtype,
            "device": self.case.device,
            "grad": self.case.grad,
            "reduction": self.case.reduction,
            "timing_s": None if self.timing is None else self.timing.to_json(),
            "warmup_s": self.warmup_s,
            "bytes": self.bytes_moved,
            "gb_per_s": None if throughput is None else throughput / 1e9,
            "skipped": self.skipped,
            "includes_conversion": self.includes_conversion,
        }


@cache
def inputs(form: str, size: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded inputs rounded to ``dtype``, made once per (form, size, dtype)."""
    rng = np.random.default_rng(size)
    x = rng.uniform(1e-3, 1 - 1e-3, size) if form == "probs" else rng.normal(0.0, 3.0, size)
    y = rng.integers(0, 2, size).astype(np.float64)
    fmt = float_format(dtype)
    return fmt.round(x), fmt.round(y)


def bench_call(adapter: Adapter, case: BenchCase) -> Call:
    form = sorted(adapter.forms)[0]
    x, y = inputs(form, case.size, case.dtype)
    return Call(form=form, input=x, target=y, weight=None, pos_weight=None,  # type: ignore[arg-type]
                reduction=case.reduction, dtype=case.dtype, device=case.device,  # type: ignore[arg-type]
                grad=case.grad)  # fmt: skip


def bytes_moved(case: BenchCase) -> int:
    """The least traffic BCE needs: read input and target, write the result; backward
    reads both again and writes the gradient."""
    item = float_format(case.dtype).numpy.itemsize
    result = case.size if case.reduction == "none" else 1
    forward = 2 * case.size + result
    return item * (forward + (3 * case.size if case.grad else 0))


def run_case(adapter: Adapter, case: BenchCase) -> BenchResult:
    """One measurement, or the reason there is none."""
    call = bench_call(adapter, case)
    reason = adapter.available() or adapter.device_unavailable(case.device)
    reason = reason or adapter.unsupported(call)
    if reason:
        return BenchResult(case, None, skipped=reason)
    measured, warmup, converts = adapter.time(call)
    return BenchResult(case, measured, warmup, bytes_moved(case), includes_conversion=converts)


def copy_bandwidth(nbytes: int = COPY_BYTES) -> float:
    """Bytes per second of a large copy (read plus write), median of a few."""
    source = np.ones(nbytes // 8)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch every page first
    timing = measure(lambda: np.copyto(target, source), min_sample_s=0.05, repeats=5)
    return 2 * nbytes / timing.median


@cache
def _adapters(specs: tuple[str, ...]) -> dict[str, Adapter]:
    from adapters.registry import discover

    return {a.name: a for a in discover(list(specs)).adapters}


def run_named(specs: tuple[str, ...], case: BenchCase) -> dict[str, Any]:
    """``run_case`` by adapter name, in a worker process: the result as JSON."""
    return run_case(_adapters(specs)[case.adapter], case).to_json()
