"""From element losses to what a Keras-style API returns: the mean over an ``axis``, the
per-sample weights, and the reductions, in high precision.

With ``axis`` the element losses t_i (already times any per-element weight) are averaged
over that axis into one loss per sample, l_s = sum_j t_sj / m (m: the axis' length), and
each is multiplied by its sample weight v_s. Without ``axis`` every element is a sample
(m = 1). Then

    none           v_s l_s, one per sample
    sum            S = sum_s v_s l_s
    mean           S / (number of samples)         (Keras: "sum_over_batch_size")
    weighted_mean  S / sum_s W_s                   (Keras: "mean_with_sample_weight")

where W_s is the weight the sample carries: v_s, times its element weight when every
element is a sample; 1 without weights (the weighted mean is then the mean). A mean of no
samples, and a weighted mean whose weights sum to 0, are undefined (NaN).

d(result)/d(t_i) = v_s / m / divisor, the factor ``element_factors`` gives (divisor: 1 for
none and sum, the count for mean, sum W for weighted_mean); the reference multiplies each
element's derivative by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import numpy as np


@dataclass(frozen=True)
class Samples:
    """How one check's element losses are grouped, weighted and reduced."""

    shape: tuple[int, ...]
    """The input's shape (the element losses')."""
    axis: int | None = None
    sample_weight: np.ndarray | None = None
    """v, already broadcast to ``sample_shape``."""
    mean_weights: np.ndarray | None = None
    """W (per sample, ``sample_shape``): what a weighted mean divides by; None: all 1."""

    @property
    def trivial(self) -> bool:
        """No axis and no sample weight: every element is a sample of weight 1."""
        return self.axis is None and self.sample_weight is None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.axis is None:
            return self.shape
        return self.shape[: self.axis] + self.shape[self.axis + 1 :]

    @property
    def axis_length(self) -> int:
        return 1 if self.axis is None else self.shape[self.axis]

    def _grouped(self) -> np.ndarray:
        """Element indices (C order) arranged as (samples, m): row s holds sample s's."""
        indices = np.arange(int(np.prod(self.shape))).reshape(self.shape)
        if self.axis is not None:
            indices = np.moveaxis(indices, self.axis, -1)
        return indices.reshape(-1, self.axis_length)

    def per_sample(self, ctx: mpmath.MPContext, terms: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
        """v_s l_s for each sample, in C order of ``sample_shape``."""
        weights = self._flat_sample_weight()
        out = []
        for s, row in enumerate(self._grouped()):
            mean = ctx.fsum(terms[i] for i in row) / self.axis_length if row.size else ctx.nan
            out.append(_times(ctx, weights[s], mean) if weights is not None else mean)
        return out

    def divisor(self, ctx: mpmath.MPContext, reduction: str) -> mpmath.mpf:
        """What the sum of the per-sample losses is divided by (see the module docstring)."""
        if reduction == "mean":
            return ctx.mpf(int(np.prod(self.sample_shape)))
        if reduction == "weighted_mean":
            if self.mean_weights is None:
                return ctx.mpf(int(np.prod(self.sample_shape)))
            return ctx.fsum(ctx.mpf(float(w)) for w in self.mean_weights.reshape(-1))
        return ctx.one

    def element_factors(self, ctx: mpmath.MPContext, reduction: str) -> list[mpmath.mpf]:
        """d(result)/d(t_i) for each element (for ``none``, of the sum of the results)."""
        weights = self._flat_sample_weight()
        divisor = self.divisor(ctx, reduction)
        factors = [ctx.nan] * int(np.prod(self.shape))
        for s, row in enumerate(self._grouped()):
            v = ctx.one if weights is None else ctx.mpf(float(weights[s]))
            factor = v / self.axis_length / divisor if divisor != 0 else ctx.nan
            for i in row:
                factors[i] = factor
        return factors

    def _flat_sample_weight(self) -> np.ndarray | None:
        return None if self.sample_weight is None else self.sample_weight.reshape(-1)


def reduce(
    ctx: mpmath.MPContext, samples: Samples, terms: Sequence[mpmath.mpf], reduction: str
) -> mpmath.mpf:
    """The reduced loss: the sum of the per-sample losses over ``divisor``."""
    total = ctx.fsum(samples.per_sample(ctx, terms)) if terms else ctx.zero
    if reduction == "sum":
        return total
    divisor = samples.divisor(ctx, reduction)
    return ctx.nan if divisor == 0 else total / divisor


def _times(ctx: mpmath.MPContext, weight: float, value: mpmath.mpf) -> mpmath.mpf:
    """weight * value with 0 * (anything but NaN) = 0, the limit a zero weight gives."""
    if weight == 0 and not ctx.isnan(value):
        return ctx.zero
    return ctx.mpf(float(weight)) * value
