"""Floating-point formats the suite checks: rounding into them and their ULP.

The reference is computed on inputs *after* rounding to the check's dtype, and errors
are measured in ULPs of that dtype. bfloat16 comes from ml_dtypes (NumPy has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class FloatFormat:
    name: str
    numpy: np.dtype
    mantissa_bits: int
    """Precision p, counting the implicit bit: 24 for float32."""
    min_exponent: int
    """Exponent of the smallest normal number: -126 for float32."""

    @property
    def smallest_normal(self) -> float:
        return 2.0**self.min_exponent

    @property
    def smallest_subnormal(self) -> float:
        return 2.0 ** (self.min_exponent - self.mantissa_bits + 1)

    @property
    def unit_roundoff(self) -> float:
        return 2.0**-self.mantissa_bits

    def round(self, values: ArrayLike) -> np.ndarray:
        """Round float64 values to this format (round to nearest even)."""
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64).astype(self.numpy)

    def ulp(self, values: ArrayLike) -> np.ndarray:
        """Spacing of this format at |values|, as float64.

        For 0 and subnormal magnitudes this is the smallest subnormal; for magnitudes
        above the format's range it continues the exponent (so a finite error stays finite).
        """
        mag = np.abs(np.asarray(values, dtype=np.float64))
        _, exponent = np.frexp(mag)  # mag = m * 2**exponent, m in [0.5, 1); frexp(0) = (0, 0)
        exponent = np.where(mag > 0, np.maximum(exponent - 1, self.min_exponent), self.min_exponent)
        return np.ldexp(1.0, exponent - self.mantissa_bits + 1)

    def is_subnormal(self, values: ArrayLike) -> np.ndarray:
        mag = np.abs(np.asarray(values, dtype=np.float64))
        return (mag > 0) & (mag < self.smallest_normal)

    def info(self) -> np.finfo | ml_dtypes.finfo:
        return ml_dtypes.finfo(self.numpy)


FORMATS: dict[str, FloatFormat] = {
    "float16": FloatFormat("float16", np.dtype(np.float16), 11, -14),
    "bfloat16": FloatFormat("bfloat16", np.dtype(ml_dtypes.bfloat16), 8, -126),
    "float32": FloatFormat("float32", np.dtype(np.float32), 24, -126),
    "float64": FloatFormat("float64", np.dtype(np.float64), 53, -1022),
}


def float_format(name: str) -> FloatFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; choose from {', '.join(FORMATS)}") from None
