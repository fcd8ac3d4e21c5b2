"""What a check compared, kept for the report: the framework's values beside the reference's.

A verdict alone cannot be checked by a reader, plotted, or pasted into an upstream issue;
the values can. An array of up to ``ALL_VALUES_UP_TO`` elements is kept whole; a larger
one keeps its ``WORST_ELEMENTS`` worst elements (largest error in ULPs first) and summary
statistics, so a full-profile report stays a practical size. Where each compared value
belongs to one input element (the elementwise loss, and every gradient), the element's
input and target are kept with it: they are what an error-against-logit plot or a minimal
reproducer needs. Values are float64 and exact: JSON's shortest round-trip decimal keeps
every bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.engine.comparison import Comparison
from conformance.engine.reference import Inputs

ALL_VALUES_UP_TO = 16
"""Arrays this small are kept whole: every case of the edge-value files fits."""
WORST_ELEMENTS = 8
"""Elements kept from a larger array: enough to show a pattern, small enough that the
full profile's report stays in the tens of megabytes."""


@dataclass(frozen=True)
class Element:
    index: int
    """Flat (C-order) index into the compared array."""
    got: float
    expected: float
    """The mathematically correct value, rounded to float64."""
    error_ulps: float
    input: float | None = None
    """The element's input (probability or logit) where the value is elementwise."""
    target: float | None = None


@dataclass(frozen=True)
class Evidence:
    compared: int
    outside_tolerance: int
    elements: tuple[Element, ...]
    """Every element when ``compared <= ALL_VALUES_UP_TO``, else the worst ones."""
    median_error_ulps: float
    max_relative_error: float | None
    """max |got - exact| / |exact| over elements with a finite, non-zero exact value
    (infinite where such an element came back NaN or infinite)."""

    @property
    def all_elements(self) -> bool:
        return len(self.elements) == self.compared


def collect(
    got: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    comparison: Comparison,
    inputs: Inputs | None,
) -> Evidence:
    """The evidence of one comparison; ``inputs`` when each value belongs to one element."""
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    lo = np.asarray(lo, dtype=np.float64).reshape(-1)
    errors = comparison.error_ulps
    if got.size <= ALL_VALUES_UP_TO:
        indices = np.arange(got.size)
    else:  # worst first; ties (a run of exact zeros) keep index order
        indices = np.argsort(-np.nan_to_num(errors, nan=np.inf), kind="stable")[:WORST_ELEMENTS]
    xs = ys = None
    if inputs is not None and inputs.x.size == got.size:
        xs, ys = inputs.x.reshape(-1), inputs.y.reshape(-1)
    elements = tuple(
        Element(
            index=int(i),
            got=float(got[i]),
            expected=float(hi[i]),
            error_ulps=float(errors[i]),
            input=None if xs is None else float(xs[i]),
            target=None if ys is None else float(ys[i]),
        )
        for i in indices
    )
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        relative = np.abs((got - hi) - lo) / np.abs(hi)
    relative = np.where(np.isnan(relative), np.inf, relative)  # NaN where a value is due
    usable = np.isfinite(hi) & (hi != 0)
    return Evidence(
        compared=int(got.size),
        outside_tolerance=int(np.sum(~comparison.within)),
        elements=elements,
        median_error_ulps=float(np.median(errors)) if errors.size else 0.0,
        max_relative_error=float(relative[usable].max()) if usable.any() else None,
    )
