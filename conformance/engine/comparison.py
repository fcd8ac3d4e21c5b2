"""Compare a framework's values with a double-double reference, element by element, in ULPs.

Rules for an element:
- reference NaN (the mathematics is undefined there): the value must be NaN;
- reference infinite, or finite but beyond the dtype's range: the value must be that infinity;
- otherwise the value must be finite and within its tolerance in ULPs of the dtype.
The error is |(got - hi) - lo| / ulp(hi), or / ulp(scale) where the quantity is rounded at a
larger scale than its value (a gradient formed as a difference); got - hi is exact when
they are close (Sterbenz), so this measures float64 results to a fraction of an ULP.
A reference with a width (``slack``: a pipeline's sigmoid within its error budget) is an
interval: the error is the distance beyond it, and an infinite width admits any number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.engine.dtypes import FloatFormat


@dataclass(frozen=True)
class Comparison:
    within: np.ndarray
    """Per element: does the value meet the reference?"""
    error_ulps: np.ndarray
    """Per element: measured error in ULPs (inf where a special value does not match)."""
    tolerance_ulps: np.ndarray

    @property
    def ok(self) -> bool:
        return bool(np.all(self.within))

    @property
    def max_error_ulps(self) -> float:
        finite = self.error_ulps[np.isfinite(self.error_ulps)]
        if finite.size < self.error_ulps.size:
            return float("inf")
        return float(finite.max()) if finite.size else 0.0


def compare(
    got: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    tolerance: float,
    fmt: FloatFormat,
    scale: np.ndarray | None = None,
    slack: np.ndarray | None = None,
) -> Comparison:
    """Errors in ULPs of the reference, or of ``scale`` (>= |reference|) where given,
    beyond ``slack`` (the reference's own half-width, absolute) where given."""
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    lo = np.asarray(lo, dtype=np.float64).reshape(-1)
    basis = hi if scale is None else np.maximum(np.abs(hi), np.asarray(scale).reshape(-1))
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = fmt.round(hi).astype(np.float64)
        special = np.isnan(hi) | ~np.isfinite(rounded)
        width = 0.0 if slack is None else np.asarray(slack, dtype=np.float64).reshape(-1)
        error = np.maximum(np.abs((got - hi) - lo) - width, 0.0) / fmt.ulp(basis)
    unbounded = np.isinf(width) & ~np.isnan(got)  # a sigmoid in budget can make it anything
    error = np.where(unbounded, 0.0, np.where(np.isfinite(got), error, np.inf))
    same_special = (np.isnan(hi) & np.isnan(got)) | (~np.isnan(hi) & (got == rounded))
    same_special |= unbounded
    error = np.where(special, np.where(same_special, 0.0, np.inf), error)
    within = np.where(special, same_special, error <= tolerance)
    return Comparison(within=within, error_ulps=error, tolerance_ulps=np.full(hi.shape, tolerance))
