"""Your own BCE, checked by the suite with one command (no subclass, no package):

    bce-conformance run --adapter examples/my_bce.py:textbook_bce --adapters 'my.*'

``textbook_bce`` is the formula as it is usually written by hand; the suite flags it
exactly where that formula breaks (0 * log 0 = NaN at p = 0 or 1 with a hard label, and
log(1 - p) losing bits on a rounded 1 - p), and passes it elsewhere. ``stable_bce`` takes
weights and every reduction and has a gradient; it conforms everywhere:

    bce-conformance run --adapter examples/my_bce.py:stable_bce --adapters 'my.*'
"""

from __future__ import annotations

import numpy as np

from adapters import bce_adapter


@bce_adapter(form="probs", reductions=("mean",), name="my.textbook_bce")
def textbook_bce(p, y):
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _xlogy(coefficient, value):
    """coefficient * value, 0 where the coefficient is 0 and value is not NaN (the limit
    0 * log 0 = 0, as scipy.special.xlogy)."""
    zero = (coefficient == 0) & ~np.isnan(value)
    return np.where(zero, 0.0, coefficient * value).astype(value.dtype)


def _stable_grad(p, y, weight=None, reduction="mean"):
    grad = _xlogy(1 - y, 1 / (1 - p)) - _xlogy(y, 1 / p)
    grad = grad if weight is None else _xlogy(weight, grad)
    return grad / p.size if reduction == "mean" else grad


@bce_adapter(form="probs", dtypes=("float32", "float64"), grad=_stable_grad, name="my.stable_bce")
def stable_bce(p, y, weight=None, reduction="mean"):
    with np.errstate(divide="ignore"):
        loss = -(_xlogy(y, np.log(p)) + _xlogy(1 - y, np.log1p(-p)))
    if weight is not None:
        loss = _xlogy(weight, loss)
    if reduction == "none":
        return loss
    return np.mean(loss) if reduction == "mean" else np.sum(loss)
