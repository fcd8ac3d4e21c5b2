"""The mathematical BCE and its gradient in high precision, on inputs already rounded to
the check's dtype.

    probs:  L = -w [ y log p + (1 - y) log(1 - p) ]
            dL/dp = w [ -y / p + (1 - y) / (1 - p) ]
            dL/dy = w [ log(1 - p) - log p ]
    logits: L =  w [ (1 - y) softplus(x) + pw y softplus(-x) ],  softplus(t) = log(1 + e^t)
            dL/dx = w [ (1 - y) sigmoid(x) - pw y sigmoid(-x) ]
            dL/dy = w [ pw softplus(-x) - softplus(x) ]   (-w x for pw = 1)

The logits loss is the usual ``(1 - y) x + (1 + (pw - 1) y) softplus(-x)`` rewritten as a
sum of two non-negative terms, so evaluating it never cancels; its derivative follows from
softplus' = sigmoid. The probability gradient is the docs' ``w (p - y) / (p (1 - p))`` split
into its two terms, so p = 0 or 1 with a zero coefficient stays finite. ``0 * log 0``,
``0 * (1/0)`` and a zero coefficient times an infinite softplus are 0, the limits; a
probability outside [0, 1] leaves the mathematics undefined (NaN). For a reduction, the
gradient is that of the reduced loss: 1/n times the above for mean, the above for sum and
for none (the gradient of the sum, what ``backward(ones)`` computes). tests/ checks every
one of these against high-precision finite differences.

Everything is evaluated with mpmath at 128 bits (gmpy2 backend when installed), which is
exact far beyond float64's 53 bits for these elementary functions, so the reference error
is negligible against any tolerance here. Values come back as double-double pairs
(hi + lo) so a float64 check can be measured to a fraction of an ULP. Each gradient also
carries the size of the two terms of the difference as the frameworks document it,
sigmoid(x) (1 + (pw - 1) y) and pw y for logits, y / p and (1 - y) / (1 - p) for
probabilities: the scale at which an implementation of that difference rounds
(tolerances.py). The gradient value itself is computed without cancellation.

The same evaluator applies an adapter's declared ``Conventions`` (log floor, probability
clip, 1 - p rounded to the dtype, subnormal flushing, a floored gradient denominator) to
give the convention-adjusted values. ``reference_store.ReferenceCache`` keeps them by a
hash of the inputs, so a run computes each reference once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeAlias

import mpmath
import numpy as np

from adapters.base import Conventions
from conformance.engine import samples
from conformance.engine.dtypes import FloatFormat, float_format
from conformance.engine.samples import Samples
from conformance.engine.tolerances import SIGMOID_ULPS

Target: TypeAlias = "float | mpmath.mpf"
"""A target as the element formulas take it: a float, or exact (a smoothed label)."""
PRECISION_BITS = 128
_CTX = mpmath.MPContext()
_CTX.prec = PRECISION_BITS
_ZERO = _CTX.mpf(0)
_ONE = _CTX.mpf(1)
_HALF = _CTX.mpf(0.5)
_FLOAT32_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)
_NAN = _CTX.nan
_INF = _CTX.inf


@dataclass(frozen=True)
class Inputs:
    """The dtype-rounded inputs of one check, held exactly as float64 arrays.

    ``weight`` and ``pos_weight`` are already broadcast to the input's shape.
    """

    form: str
    dtype: str
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None = None
    pos_weight: np.ndarray | None = None
    label_smoothing: float = 0.0
    """s: the target the loss sees is y (1 - s) + s / 2."""
    axis: int | None = None
    """The element losses are averaged over this axis (``samples.py``)."""
    sample_weight: np.ndarray | None = None
    """One weight per sample, broadcast to the per-sample shape (``samples.py``)."""

    def key(self, conventions: Conventions | None) -> str:
        digest = hashlib.sha256()
        options = f"{self.label_smoothing!r}|{self.axis!r}"
        digest.update(f"{self.form}|{self.dtype}|{self.x.shape}|{options}|{conventions!r}".encode())
        for arr in (self.x, self.y, self.weight, self.pos_weight, self.sample_weight):
            digest.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Element:
    """One element: its loss, its derivative, and the size of the derivative's terms;
    for a pipeline, how far the loss and derivative may move over the sigmoid's error."""

    loss: mpmath.mpf
    grad: mpmath.mpf
    grad_terms: mpmath.mpf
    target_grad: mpmath.mpf = _NAN
    """d loss / d target: a difference of two logarithms (or softpluses) at any target."""
    target_terms: mpmath.mpf = _NAN
    loss_slack: float = 0.0
    grad_slack: float = 0.0
    target_slack: float = 0.0
    second: mpmath.mpf = _NAN
    """d2 loss / d input2 (logits: (1 + (pw - 1) y) p (1 - p)); NaN where not checked."""
    second_terms: mpmath.mpf = _NAN
    """The size p + p**2 of the two terms of p - p**2, times |1 + (pw - 1) y|: p (1 - p) is
    formed as a difference at that scale (tolerances.py)."""


@dataclass(frozen=True)
class Reference:
    """Exact weighted element losses and gradients of one check."""

    terms: tuple[mpmath.mpf, ...]
    """w_i L_i, flattened in C order."""
    grads: tuple[mpmath.mpf, ...]
    """w_i dL_i/dx_i."""
    grad_terms: np.ndarray
    """|w_i| (|first term| + |second term|) of each gradient, float64."""
    shape: tuple[int, ...]
    flush_below: float = 0.0
    """Results smaller than this become 0 (the smallest normal under flush-subnormals)."""
    single_term: np.ndarray | None = None
    """Per element: the target is 0 or 1, so one term of the gradient is 0 and the
    gradient itself involves no cancellation (tolerances.py)."""
    smallest_normal: float = 0.0
    """The dtype's smallest normal number."""
    target_grads: tuple[mpmath.mpf, ...] = ()
    """w_i dL_i/dy_i."""
    target_terms: np.ndarray | None = None
    """|w_i| (|first term| + |second term|) of each target gradient, float64."""
    second_grads: tuple[mpmath.mpf, ...] = ()
    """w_i d2L_i/dx_i2."""
    second_terms: np.ndarray | None = None
    """|w_i| times each second derivative's terms' size (Element.second_terms), float64."""
    loss_slack: np.ndarray | None = None
    """Per element (weighted): how far the loss moves when a pipeline's sigmoid is anywhere
    within its error budget (tolerances.SIGMOID_ULPS); None: no pipeline, no slack."""
    grad_slack: np.ndarray | None = None
    target_slack: np.ndarray | None = None
    axis: int | None = None
    """Keras's mean over an axis (``samples.py``); None: each element is a sample."""
    sample_weight: np.ndarray | None = None
    """Per-sample weights, broadcast to the per-sample shape."""
    mean_weights: np.ndarray | None = None
    """The per-sample weights a weighted mean divides by (None: all 1)."""
    _memo: dict[tuple[str, str], tuple[np.ndarray, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Each quantity's float64 form, made once: a reference serves every adapter and
    every reduction of its inputs, and the conversion from mpmath is the costly part."""

    def _remember(
        self, name: str, reduction: str, make: Callable[[], tuple[np.ndarray, ...]]
    ) -> tuple[np.ndarray, ...]:
        key = (name, reduction)
        if key not in self._memo:
            arrays = make()
            for array in arrays:
                array.setflags(write=False)  # shared: a caller must not change it
            self._memo[key] = arrays
        return self._memo[key]

    @property
    def samples(self) -> Samples:
        return Samples(self.shape, self.axis, self.sample_weight, self.mean_weights)

    def _grouped(self, reduction: str) -> bool:
        """Whether a quantity goes through ``samples.py``: an axis, sample weights, or a
        weighted mean; otherwise each element is its own sample (the plain formulas)."""
        return not self.samples.trivial or reduction == "weighted_mean"

    def slack(self, reduction: str, grad: bool, wrt: str = "input") -> np.ndarray:
        """The reference's own width for a quantity: a value within this absolute distance
        of the reference is exact for some sigmoid within its budget (0 without one)."""
        per_element = self.loss_slack
        if grad:
            per_element = self.target_slack if wrt == "target" else self.grad_slack
        if per_element is None:
            per_element = np.zeros(len(self.terms))
        if self._grouped(reduction):
            return self._grouped_slack(per_element, reduction, grad)
        n = max(len(self.terms), 1)
        if grad:
            return (per_element / n if reduction == "mean" else per_element).reshape(self.shape)
        if reduction == "none":
            return per_element.reshape(self.shape)
        total = float(np.sum(per_element))
        return np.array(total / n if reduction == "mean" else total)

    def _grouped_slack(self, per_element: np.ndarray, reduction: str, grad: bool) -> np.ndarray:
        """``slack`` through the samples: each element's slack times |its factor|."""
        factors = np.abs([float(f) for f in self.samples.element_factors(_CTX, reduction)])
        weighted = np.where(per_element == 0, 0.0, per_element * factors)
        if grad:
            return weighted.reshape(self.shape)
        if reduction == "none":
            per_sample = self.samples.per_sample(_CTX, [_CTX.mpf(float(v)) for v in weighted])
            return np.array([float(v) for v in per_sample]).reshape(self.samples.sample_shape)
        return np.array(float(np.sum(weighted)))

    def elementwise(self) -> tuple[np.ndarray, np.ndarray]:
        """The unreduced loss: one per element, or with an axis one per sample."""
        return self._remember("elementwise", "none", self._elementwise)  # type: ignore[return-value]

    def _elementwise(self) -> tuple[np.ndarray, np.ndarray]:
        if self._grouped("none"):
            per_sample = self.samples.per_sample(_CTX, self.terms)
            values = tuple(_flush_result(v, self.flush_below) for v in per_sample)
            hi, lo = _split(values)
            shape = self.samples.sample_shape
            return hi.reshape(shape), lo.reshape(shape)
        hi, lo = _split(self.terms)
        return hi.reshape(self.shape), lo.reshape(self.shape)

    def reduced(self, reduction: str) -> tuple[np.ndarray, np.ndarray]:
        """The exact sum or mean as a double-double pair of 0-d arrays."""
        return self._remember("reduced", reduction, lambda: self._reduced(reduction))  # type: ignore[return-value]

    def _reduced(self, reduction: str) -> tuple[np.ndarray, np.ndarray]:
        if self._grouped(reduction):
            total = samples.reduce(_CTX, self.samples, self.terms, reduction)
        else:
            total = _CTX.fsum(self.terms) if self.terms else _ZERO
        if reduction == "mean" and not self._grouped(reduction):
            total = total / len(self.terms) if self.terms else _NAN
        hi, lo = _split((_flush_result(total, self.flush_below),))
        return hi.reshape(()), lo.reshape(())

    def target_gradient(self, reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """d(reduced loss)/d(target): (hi, lo, the size of its two terms), shaped like the
        input. Both terms are there at every target, so the error is always measured at
        their size (tolerances.py)."""
        return self._remember(  # type: ignore[return-value]
            "target_gradient", reduction, lambda: self._target_gradient(reduction)
        )

    def _target_gradient(self, reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.target_grads)
        scales = self._scales(reduction, n)
        values = tuple(
            _flush_result(_times(f, g), self.flush_below)
            for f, g in zip(scales, self.target_grads, strict=True)
        )
        hi, lo = _split(values)
        sizes = self._sizes(scales)
        terms = np.zeros(n) if self.target_terms is None else self.target_terms * sizes
        return hi.reshape(self.shape), lo.reshape(self.shape), terms.reshape(self.shape)

    @staticmethod
    def _sizes(scales: list[mpmath.mpf]) -> np.ndarray | float:
        """|scale| per element as float64 (one number when all are the same object)."""
        if scales and all(f is scales[0] for f in scales):
            return abs(float(scales[0]))
        return np.abs(np.array([float(f) for f in scales], dtype=np.float64))

    def _scales(self, reduction: str, n: int) -> list[mpmath.mpf]:
        """d(result)/d(element loss) per element: 1/n for a plain mean, 1 for sum and none,
        else the samples' factors."""
        if self._grouped(reduction):
            return self.samples.element_factors(_CTX, reduction)
        return [_ONE / n if reduction == "mean" and n else _ONE] * n

    def second_gradient(self, reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """d2(reduced loss)/d(input)2, element by element: (hi, lo, the scale its error is
        measured at), each shaped like the input."""
        return self._remember(  # type: ignore[return-value]
            "second_gradient", reduction, lambda: self._second_gradient(reduction)
        )

    def _second_gradient(self, reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.second_grads)
        scales = self._scales(reduction, n)
        values = tuple(
            _flush_result(_times(f, g), self.flush_below)
            for f, g in zip(scales, self.second_grads, strict=True)
        )
        hi, lo = _split(values)
        sizes = self._sizes(scales)
        terms = np.zeros(n) if self.second_terms is None else self.second_terms * sizes
        return hi.reshape(self.shape), lo.reshape(self.shape), terms.reshape(self.shape)

    def gradient(self, reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """d(reduced loss)/d(input): (hi, lo, the scale its error is measured at), each
        shaped like the input. The scale is the size of the difference's terms, or 0 (the
        value itself) where the target is 0 or 1 and the exact gradient is normal."""
        return self._remember("gradient", reduction, lambda: self._gradient(reduction))  # type: ignore[return-value]

    def _gradient(self, reduction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scales = self._scales(reduction, len(self.grads))
        hi, lo = _split(
            tuple(
                _flush_result(_times(f, g), self.flush_below)
                for f, g in zip(scales, self.grads, strict=True)
            )
        )
        magnitudes = self.grad_terms * self._sizes(scales)
        if self.single_term is not None:
            relative = self.single_term & (np.abs(hi) >= self.smallest_normal)
            magnitudes = np.where(relative, 0.0, magnitudes)
        return hi.reshape(self.shape), lo.reshape(self.shape), magnitudes.reshape(self.shape)


def _split(values: tuple[mpmath.mpf, ...]) -> tuple[np.ndarray, np.ndarray]:
    hi = np.empty(len(values))
    lo = np.zeros(len(values))
    for i, v in enumerate(values):
        h = float(v)
        hi[i] = h
        if _CTX.isfinite(v) and np.isfinite(h):
            lo[i] = float(v - h)
    return hi, lo


def context() -> mpmath.MPContext:
    """The mpmath context references are computed in (128 bits)."""
    return _CTX


def compute(inputs: Inputs, conventions: Conventions | None = None) -> Reference:
    """The reference for ``inputs``; with ``conventions``, the convention-adjusted one."""
    fmt = float_format(inputs.dtype)
    conv = conventions or Conventions()
    x = inputs.x.reshape(-1)
    y = inputs.y.reshape(-1)
    w = None if inputs.weight is None else inputs.weight.reshape(-1)
    pw = None if inputs.pos_weight is None else inputs.pos_weight.reshape(-1)
    evaluate = _probs_element if inputs.form == "probs" else _logits_element
    flush_below = _flush_threshold(fmt) if conv.flush_subnormals else 0.0
    terms, grads, target_grads = [], [], []
    grad_terms, loss_slack, grad_slack = np.empty(x.size), np.zeros(x.size), np.zeros(x.size)
    target_terms, target_slack = np.empty(x.size), np.zeros(x.size)
    second_grads, second_terms = [], np.empty(x.size)
    smoothing = inputs.label_smoothing
    targets = [_smoothed(float(t), smoothing, fmt, conv, conventions is not None) for t in y]
    single_term = np.array([t == 0 or t == 1 for t in targets], dtype=bool)
    # d(smoothed target)/d(target) = 1 - s: the target gradient's chain-rule factor
    through_smoothing = _ONE - _CTX.mpf(smoothing)
    for i in range(x.size):
        pw_i = 1.0 if pw is None else float(pw[i])
        e = evaluate(float(x[i]), targets[i], pw_i, fmt, conv, conventions is not None)
        loss, grad, size = e.loss, e.grad, e.grad_terms
        target_grad, target_size = e.target_grad, e.target_terms
        second, second_size = e.second, e.second_terms
        if smoothing:
            target_grad = _times(through_smoothing, target_grad)
            target_size = _times(through_smoothing, target_size)
            e = replace(e, target_slack=e.target_slack * (1.0 - smoothing))
        weight_size = 1.0
        if w is not None:
            weight = _CTX.mpf(float(w[i]))
            loss, grad, size = _times(weight, loss), _times(weight, grad), abs(weight) * size
            target_grad = _times(weight, target_grad)
            target_size = _times(abs(weight), target_size)
            second, second_size = _times(weight, second), _times(abs(weight), second_size)
            weight_size = abs(float(w[i]))
        terms.append(_flush_result(loss, flush_below))
        grads.append(_flush_result(grad, flush_below))
        target_grads.append(_flush_result(target_grad, flush_below))
        second_grads.append(_flush_result(second, flush_below))
        second_terms[i] = float(second_size)
        grad_terms[i] = float(size)
        target_terms[i] = float(target_size)
        loss_slack[i] = _times_slack(weight_size, e.loss_slack)
        grad_slack[i] = _times_slack(weight_size, e.grad_slack)
        target_slack[i] = _times_slack(weight_size, e.target_slack)
    pipeline = conv.logits_through_probabilities and inputs.form == "logits"
    return Reference(
        tuple(terms),
        tuple(grads),
        grad_terms,
        inputs.x.shape,
        flush_below,
        single_term=single_term,
        smallest_normal=fmt.smallest_normal,
        target_grads=tuple(target_grads),
        target_terms=target_terms,
        second_grads=tuple(second_grads),
        second_terms=second_terms,
        loss_slack=loss_slack if pipeline else None,
        grad_slack=grad_slack if pipeline else None,
        target_slack=target_slack if pipeline else None,
        axis=None if inputs.axis is None else inputs.axis % inputs.x.ndim,
        sample_weight=inputs.sample_weight,
        mean_weights=_mean_weights(inputs),
    )


def _smoothed(
    y: float, smoothing: float, fmt: FloatFormat, conv: Conventions, as_framework: bool
) -> Target:
    """The target the loss sees: y (1 - s) + s / 2, exactly; with the convention
    ``smoothed_target_in_dtype``, as Keras writes it, ``y * (1.0 - s) + 0.5 * s`` with each
    operation rounded to the dtype (the Python floats 1 - s and s / 2 converted first)."""
    if not smoothing or np.isnan(y):
        return y
    if as_framework and conv.smoothed_target_in_dtype:
        r = fmt.round
        scaled = r(r(np.float64(y)) * r(np.float64(1.0 - smoothing)))
        return float(r(scaled + r(np.float64(0.5 * smoothing))))
    s = _CTX.mpf(smoothing)
    return _CTX.mpf(y) * (_ONE - s) + s / 2


def _mean_weights(inputs: Inputs) -> np.ndarray | None:
    """The weight each sample carries in a weighted mean (``samples.py``): its sample
    weight, times its element weight when every element is a sample."""
    weights = inputs.sample_weight
    if inputs.axis is None and inputs.weight is not None:
        weights = inputs.weight if weights is None else weights * inputs.weight
    return weights


def _times_slack(weight: float, slack: float) -> float:
    """|w| times a slack, with 0 * inf = 0 (a zero weight leaves nothing uncertain)."""
    return 0.0 if weight == 0 else weight * slack


def _flush_result(value: mpmath.mpf, below: float) -> mpmath.mpf:
    """0 for a finite result smaller than ``below`` (FTZ; ``below`` is 0 without it)."""
    if _CTX.isfinite(value) and abs(value) < below:
        return _ZERO
    return value


def _times(coefficient: mpmath.mpf, value: mpmath.mpf) -> mpmath.mpf:
    """coefficient * value with 0 * (anything but NaN) = 0, the limit the loss takes."""
    if coefficient == 0 and not _CTX.isnan(value):
        return _ZERO
    return coefficient * value


def _flush_threshold(fmt: FloatFormat) -> float:
    """Below this FTZ/DAZ flushes. The CPU kernels compute float16 and bfloat16 in float32,
    so it is float32's smallest normal for them: a float16 subnormal is a float32 normal
    and survives (measured: jax keeps p = 1.19e-7 in float16), a bfloat16 one does not."""
    return min(fmt.smallest_normal, _FLOAT32_SMALLEST_NORMAL)


def _flush(v: Target, fmt: FloatFormat, conv: Conventions) -> Target:
    if conv.flush_subnormals and v != 0 and abs(v) < _flush_threshold(fmt):
        return 0.0
    return v


def _probs_element(
    p: float, y: Target, _pw: float, fmt: FloatFormat, conv: Conventions, as_framework: bool
) -> Element:
    if np.isnan(p) or _CTX.isnan(y):
        # an inclusive clip passes no gradient to a NaN prediction (it is not in the range)
        masked = conv.prob_clip is not None and conv.clip_gradient == "inclusive" and np.isnan(p)
        target_only = _target_terms_only(_probs_element, p, y, _pw, fmt, conv, as_framework)
        return Element(_NAN, _ZERO if masked else _NAN, _NAN, *target_only)
    p = _flush(p, fmt, conv)
    y = _flush(y, fmt, conv)
    passed = _ONE  # the share of the gradient the clip lets through
    if conv.prob_clip is not None:
        lo = float(fmt.round(np.float64(conv.prob_clip)))
        hi = float(fmt.round(np.float64(1.0 - conv.prob_clip)))
        passed = _clip_passes(p, lo, hi, conv)
        p = min(max(p, lo), hi)
    if not 0.0 <= p <= 1.0 and not as_framework:
        return Element(_NAN, _NAN, _NAN, _NAN, _NAN)  # undefined outside [0, 1]
    mp_p, mp_y = _CTX.mpf(p), _CTX.mpf(y)
    if conv.complement_in_dtype:
        q = _CTX.mpf(float(fmt.round(np.float64(1.0) - np.float64(p))))
        log_q = _log(q)
    else:
        q = _ONE - mp_p
        log_q = _log1m(mp_p)
    log_p = _log(mp_p)
    if conv.log_floor is not None:
        floor = _CTX.mpf(conv.log_floor)
        log_p = _CTX.nan if _CTX.isnan(log_p) else max(log_p, floor)
        log_q = _CTX.nan if _CTX.isnan(log_q) else max(log_q, floor)
    loss = -(_times(mp_y, log_p) + _times(_ONE - mp_y, log_q))
    by_target = {"target_grad": log_q - log_p, "target_terms": abs(log_p) + abs(log_q)}
    if passed == 0 and conv.clip_gradient == "inclusive":
        return Element(loss, _ZERO, _ZERO, **by_target)  # a select: nothing reaches p
    if conv.grad_denominator_floor is not None:
        # PyTorch's backward: (p - y) / max((1 - p) p, EPSILON)
        denominator = max(q * mp_p, _CTX.mpf(conv.grad_denominator_floor))
        grad, terms = (mp_p - mp_y) / denominator, (abs(mp_p) + abs(mp_y)) / denominator
    else:
        first = _times(mp_y, _reciprocal(mp_p))
        second = _times(_ONE - mp_y, _reciprocal(q))
        grad, terms = second - first, abs(first) + abs(second)
    if conv.clip_gradient == "minmax" and abs(grad) > float(fmt.info().max):
        grad = _CTX.sign(grad) * _INF  # overflows the dtype: then 0 * inf = NaN outside
    return Element(loss, passed * grad, passed * terms if passed else _ZERO, **by_target)


def _target_terms_only(
    evaluate: Callable[..., Element],
    v: float,
    y: Target,
    pw: float,
    fmt: FloatFormat,
    conv: Conventions,
    as_framework: bool,
) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(d loss / d target, its terms' size) where the target is NaN: the derivative does
    not involve the target, so it is still a number when the input is; NaN otherwise."""
    if np.isnan(v) or np.isnan(pw):
        return _NAN, _NAN
    e = evaluate(v, 0.0, pw, fmt, conv, as_framework)
    return e.target_grad, e.target_terms


def _clip_passes(p: float, lo: float, hi: float, conv: Conventions) -> mpmath.mpf:
    """The share of the gradient a clip to [lo, hi] passes to p (see Conventions)."""
    if not lo <= p <= hi:
        return _ZERO
    if conv.clip_gradient == "minmax" and p in (lo, hi):
        return _HALF  # jax.lax.max/min give each argument half the gradient at a tie
    return _ONE


def _reciprocal(v: mpmath.mpf) -> mpmath.mpf:
    return _INF if v == 0 else 1 / v


def _log(v: mpmath.mpf) -> mpmath.mpf:
    """log with IEEE meaning outside the domain: log 0 = -inf, log of a negative = NaN."""
    if v < 0 or _CTX.isnan(v):
        return _NAN
    return _CTX.log(v) if v > 0 else -_INF


def _log1m(p: mpmath.mpf) -> mpmath.mpf:
    """log(1 - p) without forming 1 - p."""
    if p > 1 or _CTX.isnan(p):
        return _NAN
    return _CTX.log1p(-p) if p < 1 else -_INF


def _softplus_and_sigmoid(x: float) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    """softplus(x), softplus(-x), sigmoid(x), sigmoid(-x) from one exp, without overflow."""
    if np.isinf(x):
        return (_INF, _ZERO, _ONE, _ZERO) if x > 0 else (_ZERO, _INF, _ZERO, _ONE)
    mp_x = _CTX.mpf(x)
    e = _CTX.exp(-abs(mp_x))  # in (0, 1]
    small = _CTX.log1p(e)  # softplus(-|x|)
    large = abs(mp_x) + small  # softplus(|x|)
    near_one, near_zero = 1 / (1 + e), e / (1 + e)  # sigmoid(|x|), sigmoid(-|x|)
    if x >= 0:
        return large, small, near_one, near_zero
    return small, large, near_zero, near_one


def _logits_element(
    x: float, y: Target, pw: float, fmt: FloatFormat, conv: Conventions, as_framework: bool
) -> Element:
    if np.isnan(x) or _CTX.isnan(y) or np.isnan(pw):
        target_only = _target_terms_only(_logits_element, x, y, pw, fmt, conv, as_framework)
        return Element(_NAN, _NAN, _NAN, *target_only)
    x = _flush(x, fmt, conv)
    y = _flush(y, fmt, conv)
    sp_pos, sp_neg, sig_pos, sig_neg = _softplus_and_sigmoid(x)
    if conv.logits_through_probabilities:
        return _through_sigmoid(float(sig_pos), y, pw, fmt, conv, as_framework)
    mp_y, mp_pw = _CTX.mpf(y), _CTX.mpf(pw)
    loss = _times(_ONE - mp_y, sp_pos) + _times(mp_pw * mp_y, sp_neg)
    grad = _times(_ONE - mp_y, sig_pos) - _times(mp_pw * mp_y, sig_neg)
    # the documented form sigmoid(x) (1 + (pw - 1) y) - pw y: the scale it rounds at
    terms = abs(sig_pos * (1 + (mp_pw - 1) * mp_y)) + abs(mp_pw * mp_y)
    target_grad = _times(mp_pw, sp_neg) - sp_pos
    coefficient = (1 - mp_y) + mp_pw * mp_y  # 1 + (pw - 1) y
    second = _times(coefficient, sig_pos * sig_neg)
    second_terms = abs(coefficient) * sig_pos * (1 + sig_pos)
    return Element(
        loss,
        grad,
        terms,
        target_grad,
        sp_pos + abs(mp_pw) * sp_neg,
        second=second,
        second_terms=second_terms,
    )


def _through_sigmoid(
    sigmoid: float, y: Target, pw: float, fmt: FloatFormat, conv: Conventions, as_framework: bool
) -> Element:
    """A pipeline: p = sigmoid(x) in the dtype, then the probability formula with the
    conventions; dp/dx = p (1 - p) on that rounded p, the sigmoid backward PyTorch
    (sigmoid_backward(grad, result)), TensorFlow (SigmoidGrad: y (1 - y)) and JAX
    (logistic's JVP: ans (1 - ans)) implement. The frameworks' sigmoids are not correctly
    rounded: every p within SIGMOID_ULPS of the correctly rounded one is as right, and the
    slack is how far the loss and the gradient move over them (tolerances.py)."""
    rounded = float(fmt.round(np.float64(sigmoid)))
    candidates = _neighbours(rounded, fmt, SIGMOID_ULPS)
    evaluated = [_chain_sigmoid(p, y, pw, fmt, conv, as_framework) for p in candidates]
    centre = evaluated[candidates.index(rounded)]
    return Element(
        centre.loss,
        centre.grad,
        centre.grad_terms,
        centre.target_grad,
        centre.target_terms,
        loss_slack=_spread(centre.loss, [e.loss for e in evaluated]),
        grad_slack=_spread(centre.grad, [e.grad for e in evaluated]),
        target_slack=_spread(centre.target_grad, [e.target_grad for e in evaluated]),
    )


def _chain_sigmoid(
    p: float, y: Target, pw: float, fmt: FloatFormat, conv: Conventions, as_framework: bool
) -> Element:
    """The probability formula at the pipeline's p, its gradient times p (1 - p)."""
    e = _probs_element(p, y, pw, fmt, conv, as_framework)
    slope = _CTX.mpf(p) * (_ONE - _CTX.mpf(p))
    return Element(
        e.loss, _times(slope, e.grad), slope * e.grad_terms, e.target_grad, e.target_terms
    )


def _neighbours(p: float, fmt: FloatFormat, ulps: int) -> list[float]:
    """``p`` and the numbers of the dtype up to ``ulps`` steps either side, within [0, 1]."""
    out = [p]
    for bound in (1.0, 0.0):
        q, towards = fmt.numpy.type(p), fmt.numpy.type(bound)
        for _ in range(ulps):
            if q == towards:
                break
            q = np.nextafter(q, towards)
            out.append(float(q))
    return out


def _spread(centre: mpmath.mpf, values: list[mpmath.mpf]) -> float:
    """The largest distance from ``centre`` to ``values`` (inf when one is non-finite where
    the centre is finite, or the other way round; NaN-free by construction)."""
    widest = 0.0
    for v in values:
        if _CTX.isnan(v) or _CTX.isnan(centre):
            continue
        if _CTX.isinf(v) or _CTX.isinf(centre):
            widest = widest if v == centre else float("inf")
            continue
        widest = max(widest, float(abs(v - centre)))
    return widest
