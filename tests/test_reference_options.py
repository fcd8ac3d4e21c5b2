"""The reference with Keras-style options (label smoothing, a mean over an axis, sample
weights, the weighted mean) against the same mathematics written out independently here:
each loss by its definition in mpmath, and each gradient by high-precision central
differences of that definition."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from adapters.base import Conventions
from conformance.engine.reference import Inputs, compute

X = np.array([[0.6, 0.2, 0.7], [0.1, 0.5, 0.9]])
Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]])
LOGITS = np.array([[-2.0, 1.0, 20.0], [0.5, -3.0, 4.0]])


def _element(form: str, x: mpmath.mpf, y: mpmath.mpf) -> mpmath.mpf:
    if form == "probs":
        return -(y * mpmath.log(x) + (1 - y) * mpmath.log(1 - x))
    return (1 - y) * mpmath.log1p(mpmath.exp(x)) + y * mpmath.log1p(mpmath.exp(-x))


def _definition(
    form: str,
    x: np.ndarray,
    y: np.ndarray,
    reduction: str,
    smoothing: float = 0.0,
    axis: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> list[mpmath.mpf]:
    """The loss(es) by definition: smoothed targets, element losses, the mean over
    ``axis``, the weights (leading axes), then the reduction; at 200 bits."""
    with mpmath.workprec(200):
        return _defined(form, x, y, reduction, smoothing, axis, sample_weight)


def _defined(form, x, y, reduction, smoothing, axis, sample_weight) -> list[mpmath.mpf]:
    s = mpmath.mpf(smoothing)
    losses = np.empty(x.shape, dtype=object)
    for index in np.ndindex(x.shape):
        target = mpmath.mpf(y[index]) * (1 - s) + s / 2
        losses[index] = _element(form, mpmath.mpf(x[index]), target)
    if axis is not None:
        m = x.shape[axis]
        losses = np.sum(losses, axis=axis) / m
    weights = np.ones(losses.shape, dtype=object)
    if sample_weight is not None:
        expanded = sample_weight.reshape(
            sample_weight.shape + (1,) * (losses.ndim - sample_weight.ndim)
        )
        weights = np.broadcast_to(expanded, losses.shape).astype(object)
    weighted = [
        mpmath.mpf(float(w)) * v
        for w, v in zip(weights.reshape(-1), losses.reshape(-1), strict=True)
    ]
    if reduction == "none":
        return weighted
    total = mpmath.fsum(weighted)
    if reduction == "sum":
        return [total]
    if reduction == "mean":
        return [total / len(weighted)]
    return [total / mpmath.fsum(mpmath.mpf(float(w)) for w in weights.reshape(-1))]


def _reference(form, x, y, reduction, smoothing=0.0, axis=None, sample_weight=None):
    sample_shape = x.shape if axis is None else np.delete(np.array(x.shape), axis)
    full = None
    if sample_weight is not None:
        expanded = sample_weight.reshape(
            sample_weight.shape + (1,) * (len(sample_shape) - sample_weight.ndim)
        )
        full = np.broadcast_to(expanded, tuple(sample_shape)).astype(np.float64)
    inputs = Inputs(form, "float64", x, y, label_smoothing=smoothing, axis=axis, sample_weight=full)
    return compute(inputs)


CASES = [
    ("probs", X, Y, 0.1, None, None),
    ("probs", X, Y, 1.0, None, None),
    ("logits", LOGITS, Y, 0.2, -1, np.array([0.5, 2.0])),
    ("probs", X, Y, 0.0, 0, np.array([1.0, 0.0, 3.0])),
    ("logits", LOGITS, Y, 0.0, None, np.array([-1.0, -0.5])),
    ("probs", X, Y, 0.05, None, np.array(2.0)),
]


@pytest.mark.parametrize("form, x, y, smoothing, axis, weight", CASES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "weighted_mean"])
def test_values_match_the_definition(form, x, y, smoothing, axis, weight, reduction) -> None:
    ref = _reference(form, x, y, reduction, smoothing, axis, weight)
    expected = _definition(form, x, y, reduction, smoothing, axis, weight)
    if reduction == "none":
        hi, lo = ref.elementwise()
    else:
        hi, lo = ref.reduced(reduction)
    with mpmath.workprec(200):  # hi + lo holds about 106 bits
        for h, low, e in zip(hi.reshape(-1), lo.reshape(-1), expected, strict=True):
            g = mpmath.mpf(float(h)) + mpmath.mpf(float(low))
            assert abs(g - e) <= abs(e) * mpmath.mpf(2) ** -100, (g, e)


@pytest.mark.parametrize("form, x, y, smoothing, axis, weight", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
@pytest.mark.parametrize("wrt", ["input", "target"])
def test_gradients_match_central_differences(form, x, y, smoothing, axis, weight, reduction, wrt):
    ref = _reference(form, x, y, reduction, smoothing, axis, weight)
    hi, lo, _ = ref.target_gradient(reduction) if wrt == "target" else ref.gradient(reduction)
    step = mpmath.mpf(2) ** -60
    with mpmath.workprec(200):
        _compare_differences(form, x, y, smoothing, axis, weight, reduction, wrt, hi, lo, step)


def _compare_differences(form, x, y, smoothing, axis, weight, reduction, wrt, hi, lo, step):
    """Central differences at 200 bits: step**2 truncation (1e-36) and rounding (1e-42) are
    far below the double-double reference's own 106 bits (1e-32 relative)."""
    for index in np.ndindex(x.shape):
        ahead, behind = (
            _moved_loss(form, x, y, smoothing, axis, weight, reduction, wrt, index, delta)
            for delta in (step, -step)
        )
        numeric = (ahead - behind) / (2 * step)
        got = mpmath.mpf(float(hi[index])) + mpmath.mpf(float(lo[index]))
        assert abs(got - numeric) <= abs(numeric) * 1e-28 + 1e-300, (index, got, numeric)


def _moved_loss(form, x, y, smoothing, axis, weight, reduction, wrt, index, delta):
    """The reduced loss by definition with one input (or target) element moved by delta."""
    xs, ys = x.astype(object), y.astype(object)
    moved = ys if wrt == "target" else xs
    moved[index] = mpmath.mpf(moved[index]) + delta
    return _definition(form, xs, ys, reduction, smoothing, axis, weight)[0]


def test_weighted_mean_of_zero_weights_and_the_empty_mean_are_undefined() -> None:
    ref = _reference("probs", X, Y, "weighted_mean", sample_weight=np.zeros(2))
    assert np.isnan(ref.reduced("weighted_mean")[0])
    assert np.isnan(ref.gradient("weighted_mean")[0]).all()
    assert ref.reduced("sum")[0] == 0.0
    empty = _reference("logits", np.zeros((0, 3)), np.zeros((0, 3)), "mean", axis=-1)
    assert np.isnan(empty.reduced("mean")[0]) and empty.reduced("sum")[0] == 0.0
    assert empty.elementwise()[0].shape == (0,)


def test_smoothed_target_in_dtype_is_keras_formula_rounded() -> None:
    """float32: y * (1 - 0.1) + 0.05 rounded per operation, not 0.95 exactly; the loss at
    x = 20 moves by x times the difference, many float32 ULPs."""
    x, y = np.array([20.0]), np.array([1.0])
    inputs = Inputs("logits", "float32", x, y, label_smoothing=0.1)
    exact = compute(inputs).elementwise()[0][0]
    keras = compute(inputs, Conventions(smoothed_target_in_dtype=True)).elementwise()[0][0]
    smoothed = np.float32(np.float32(1.0) * np.float32(0.9)) + np.float32(0.05)
    assert float(smoothed) != 0.95
    assert keras == pytest.approx(
        (1 - float(smoothed)) * 20 + float(np.log1p(np.exp(-20.0))), rel=1e-15
    )
    assert abs(keras - exact) > 1e-7
