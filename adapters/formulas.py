"""BCE formulas written once against any NumPy-like namespace (``numpy``, ``jax.numpy``).

These are the formulas people write by hand, so the NumPy and jax.numpy adapters call
the very same code and differ only in the array library underneath:

- ``textbook_*``: ``-(y log p + (1 - y) log(1 - p))``, for logits after ``p = 1/(1+e^-x)``.
  Known weaknesses it is meant to expose: ``0 * log 0 = NaN``, ``1 - p`` rounding for small
  p, sigmoid saturating to exactly 0 or 1 for moderate logits.
- ``stable_*``: ``log1p`` for the complement and ``logaddexp(0, t)`` for softplus, with
  zero coefficients giving exactly zero (the ``xlogy`` convention).
- ``*_grad``: the derivative of each formula with respect to its input, written out as
  those formulas would be differentiated by hand (the textbook logits gradient goes through
  the saturating sigmoid by the chain rule, as autodiff of the textbook formula does);
  ``*_target_grad`` the derivative with respect to the target, likewise.
Also the reduction step that elementwise-only APIs leave to the user, for values and
gradients.
"""

from __future__ import annotations

from typing import Any


def textbook_probs(xp: Any, p: Any, y: Any) -> Any:
    return -(y * xp.log(p) + (1 - y) * xp.log(1 - p))


def textbook_logits(xp: Any, x: Any, y: Any) -> Any:
    return textbook_probs(xp, 1 / (1 + xp.exp(-x)), y)


def _xlogy(xp: Any, coefficient: Any, log_value: Any) -> Any:
    """coefficient * log_value, exactly 0 where the coefficient is 0 and log_value is not
    NaN (scipy.special.xlogy's rule): the limit 0 * log 0 = 0, and NaN still propagates."""
    zero = (coefficient == 0) & ~xp.isnan(log_value)
    return xp.where(zero, xp.zeros_like(log_value), coefficient * log_value)


def stable_probs(xp: Any, p: Any, y: Any) -> Any:
    return -(_xlogy(xp, y, xp.log(p)) + _xlogy(xp, 1 - y, xp.log1p(-p)))


def stable_logits(xp: Any, x: Any, y: Any, pos_weight: Any | None = None) -> Any:
    """(1 - y) softplus(x) + pw y softplus(-x), each term non-negative: nothing cancels."""
    positive = y if pos_weight is None else pos_weight * y
    zero = xp.zeros_like(x)
    return _xlogy(xp, 1 - y, xp.logaddexp(zero, x)) + _xlogy(xp, positive, xp.logaddexp(zero, -x))


def textbook_probs_grad(xp: Any, p: Any, y: Any) -> Any:
    return -y / p + (1 - y) / (1 - p)


def textbook_logits_grad(xp: Any, x: Any, y: Any) -> Any:
    p = 1 / (1 + xp.exp(-x))
    return textbook_probs_grad(xp, p, y) * p * (1 - p)


def _ratio(xp: Any, numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, exactly 0 where the numerator is 0 and the denominator is
    not NaN (the limit, as in _xlogy). Divided, not multiplied by 1 / denominator: that
    reciprocal overflows for a subnormal denominator (1 / 1.8e-43 is inf in float32) where
    the quotient is finite (found by bce-conformance hunt: y = 1.2e-38, p = 1.8e-43)."""
    zero = (numerator == 0) & ~xp.isnan(denominator)
    return xp.where(zero, xp.zeros_like(denominator), numerator / denominator)


def stable_probs_grad(xp: Any, p: Any, y: Any) -> Any:
    return _ratio(xp, 1 - y, 1 - p) - _ratio(xp, y, p)


def _sigmoid(xp: Any, x: Any) -> Any:
    """1 / (1 + e^-x) without overflow: e^x / (1 + e^x) for negative x."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def stable_logits_grad(xp: Any, x: Any, y: Any, pos_weight: Any | None = None) -> Any:
    """(1 - y) sigmoid(x) - pw y sigmoid(-x): each term exact to rounding, no 1 - sigmoid."""
    positive = y if pos_weight is None else pos_weight * y
    return (1 - y) * _sigmoid(xp, x) - positive * _sigmoid(xp, -x)


def textbook_probs_target_grad(xp: Any, p: Any, y: Any) -> Any:
    return -(xp.log(p) - xp.log(1 - p))


def textbook_logits_target_grad(xp: Any, x: Any, y: Any) -> Any:
    return textbook_probs_target_grad(xp, 1 / (1 + xp.exp(-x)), y)


def stable_probs_target_grad(xp: Any, p: Any, y: Any) -> Any:
    return xp.log1p(-p) - xp.log(p)


def stable_logits_target_grad(xp: Any, x: Any, y: Any, pos_weight: Any | None = None) -> Any:
    """pw softplus(-x) - softplus(x): -x for pw = 1, each softplus without overflow."""
    zero = xp.zeros_like(x)
    negative = xp.logaddexp(zero, -x)
    return (negative if pos_weight is None else pos_weight * negative) - xp.logaddexp(zero, x)


def reduce_grad(grad: Any, reduction: str, size: int, shape: tuple[int, ...]) -> Any:
    """d(reduced loss)/d(variable) from the element derivatives: 1/n of them for mean,
    summed over the axes along which the variable (of ``shape``) was broadcast."""
    grad = grad / size if reduction == "mean" else grad
    if grad.shape == tuple(shape):
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))  # leading axes it lacks
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True)


def weighted(loss: Any, weight: Any | None) -> Any:
    """loss * weight as written by hand: a zero weight times an infinite loss is NaN."""
    return loss if weight is None else loss * weight


def masked_weighted(xp: Any, loss: Any, weight: Any | None) -> Any:
    """loss * weight where a zero weight removes the element, even an infinite loss."""
    return loss if weight is None else _xlogy(xp, weight, loss)


def reduce(loss: Any, reduction: str, mean: Any, total: Any) -> Any:
    """The reduction step an elementwise API leaves to the user, with the framework's own
    ``mean`` and ``total`` (sum) functions: ``np.mean``, ``tf.reduce_mean``, ..."""
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return total(loss)
    return loss
