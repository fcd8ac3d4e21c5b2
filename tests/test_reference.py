"""The reference against hand-derived values, an independent mpmath formula, and its
conventions; and the published worked examples in the case files."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from adapters.base import Adapter, Conventions
from conformance.engine.cases import load_cases
from conformance.engine.dtypes import float_format
from conformance.engine.matrix import Check, build_call
from conformance.engine.reference import Inputs, compute
from conformance.engine.reference_store import ReferenceCache


def _value(form, x, y, *, dtype="float64", weight=None, pos_weight=None, conventions=None):
    inputs = Inputs(
        form=form,
        dtype=dtype,
        x=np.asarray(x, dtype=np.float64),
        y=np.asarray(y, dtype=np.float64),
        weight=None if weight is None else np.asarray(weight, dtype=np.float64),
        pos_weight=None if pos_weight is None else np.asarray(pos_weight, dtype=np.float64),
    )
    hi, lo = compute(inputs, conventions).elementwise()
    return hi, lo


@pytest.mark.parametrize(
    ("form", "x", "y", "expected"),
    [
        ("probs", 0.5, 0.0, math.log(2)),
        ("probs", 0.5, 1.0, math.log(2)),
        ("probs", 0.0, 0.0, 0.0),  # 0 log 0 = 0
        ("probs", 1.0, 1.0, 0.0),
        ("probs", 0.0, 1.0, math.inf),
        ("probs", 1.0, 0.0, math.inf),
        ("probs", 0.25, 1.0, math.log(4)),
        ("probs", 1.5, 1.0, math.nan),  # undefined outside [0, 1]
        ("logits", 0.0, 1.0, math.log(2)),
        ("logits", -0.0, 0.0, math.log(2)),
        ("logits", math.inf, 1.0, 0.0),
        ("logits", math.inf, 0.0, math.inf),
        ("logits", -math.inf, 0.0, 0.0),
        ("logits", -math.inf, 1.0, math.inf),
        ("logits", math.log(3), 1.0, math.log(4 / 3)),  # sigmoid(log 3) = 3/4
        ("logits", math.nan, 1.0, math.nan),
    ],
)
def test_hand_derived_values(form, x, y, expected):
    hi, _ = _value(form, [x], [y])
    if math.isnan(expected):
        assert math.isnan(hi[0])
    else:
        assert hi[0] == pytest.approx(expected, rel=1e-15, abs=0)


def _independent(form: str, x: float, y: float, pw: float, w: float) -> mpmath.mpf:
    """BCE written directly from its definition at 400 bits, with no rewriting."""
    with mpmath.workprec(400):
        x, y, pw, w = (mpmath.mpf(v) for v in (x, y, pw, w))
        if form == "probs":
            return -w * (y * mpmath.log(x) + (1 - y) * mpmath.log(1 - x))
        p = 1 / (1 + mpmath.exp(-x))
        return -w * (pw * y * mpmath.log(p) + (1 - y) * mpmath.log(1 - p))


@pytest.mark.parametrize("form", ["probs", "logits"])
def test_matches_independent_mpmath_formula(form):
    rng = np.random.default_rng(2024)
    n = 200
    x = rng.uniform(1e-6, 1 - 1e-6, n) if form == "probs" else rng.normal(0, 8, n)
    y = rng.uniform(0, 1, n)
    w = rng.uniform(0, 3, n)
    pw = rng.uniform(0.1, 5, n) if form == "logits" else None
    hi, lo = _value(form, x, y, weight=w, pos_weight=pw)
    for i in range(n):
        exact = _independent(form, x[i], y[i], 1.0 if pw is None else pw[i], w[i])
        with mpmath.workprec(400):
            error = abs((mpmath.mpf(hi[i]) + mpmath.mpf(lo[i])) - exact) / exact
        assert error < mpmath.mpf(2) ** -100, (i, x[i], y[i])


def test_double_double_holds_more_than_float64():
    hi, lo = _value("probs", [0.1], [1.0])
    with mpmath.workprec(200):
        exact = -mpmath.log(mpmath.mpf(0.1))
        assert abs(mpmath.mpf(hi[0]) - exact) > abs(mpmath.mpf(hi[0]) + mpmath.mpf(lo[0]) - exact)
    assert lo[0] != 0


def test_zero_weight_removes_an_infinite_loss():
    hi, _ = _value("probs", [0.0, 0.5], [1.0, 1.0], weight=[0.0, 2.0])
    assert hi.tolist() == [0.0, pytest.approx(2 * math.log(2))]


def test_pos_weight_scales_only_the_positive_term():
    hi, _ = _value("logits", [0.0, 0.0], [1.0, 0.0], pos_weight=[3.0, 3.0])
    assert hi.tolist() == [pytest.approx(3 * math.log(2)), pytest.approx(math.log(2))]


def test_reductions_are_exact_sums():
    inputs = Inputs("probs", "float64", np.array([0.5, 0.25]), np.array([1.0, 1.0]))
    ref = compute(inputs)
    total, _ = ref.reduced("sum")
    mean, _ = ref.reduced("mean")
    assert float(total) == pytest.approx(math.log(2) + math.log(4), rel=1e-15)
    assert float(mean) == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-15)


def test_log_floor_convention_is_pytorchs_clamp():
    torch_like = Conventions(log_floor=-100.0)
    hi, _ = _value("probs", [0.0, 1e-45], [1.0, 1.0], conventions=torch_like)
    assert hi.tolist() == [100.0, 100.0]  # -log(1e-45) = 103.6 is clamped too


def test_prob_clip_convention_rounds_the_bounds_to_the_dtype():
    keras_like = Conventions(prob_clip=1e-7)
    hi, _ = _value("probs", [0.0], [0.0], dtype="float32", conventions=keras_like)
    eps32 = float(np.float32(1e-7))  # the clip bound as float32 sees it
    assert hi[0] == pytest.approx(-math.log1p(-eps32), rel=1e-15)


def test_complement_in_dtype_rounds_one_minus_p():
    hi, _ = _value(
        "probs", [1e-30], [0.0], dtype="float32", conventions=Conventions(complement_in_dtype=True)
    )
    assert hi[0] == 0.0  # float32(1 - 1e-30) == 1
    exact, _ = _value("probs", [1e-30], [0.0], dtype="float32")
    assert exact[0] == pytest.approx(1e-30, rel=1e-15)


def test_flush_subnormals_convention():
    ftz = Conventions(flush_subnormals=True)
    hi, _ = _value("logits", [-88.0], [0.0], dtype="float32", conventions=ftz)
    exact, _ = _value("logits", [-88.0], [0.0], dtype="float32")
    assert hi[0] == 0.0
    assert float_format("float32").is_subnormal(exact)[0]


def test_cache_computes_each_reference_once():
    cache = ReferenceCache()
    inputs = Inputs("probs", "float32", np.array([0.3]), np.array([1.0]))
    same = Inputs("probs", "float32", np.array([0.3]), np.array([1.0]))
    first = cache.get(inputs)
    assert cache.get(same) is first
    cache.get(inputs, Conventions(log_floor=-100.0))
    assert cache.computed == 2


def test_published_examples_reproduce():
    """Every case that quotes a published value: the reference gives it to its digits."""
    cases, errors = load_cases()
    assert not errors
    published = [c for c in cases if c.published is not None]
    assert {c.id for c in published} >= {
        "reductions/three-element-example",
        "pos-weight/torch-docs-example",
    }
    for case in published:  # the reference's inputs as a check builds them (options too)
        check = Check(Adapter(), case, "float64", "cpu", case.published.reduction)
        value, _ = compute(build_call(check)[1]).reduced(case.published.reduction)
        assert f"{float(value):.{case.published.digits}g}" == (
            f"{case.published.value:.{case.published.digits}g}"
        ), case.id


def test_worked_examples_by_hand():
    mean = -(math.log(0.6) + math.log(0.8) + math.log(0.7)) / 3
    assert f"{mean:.4g}" == "0.3635"
    assert f"{math.log1p(math.exp(-1.5)):.4g}" == "0.2014"


def _loss_at(form: str, x: mpmath.mpf, y: float, pw: float, w: float) -> mpmath.mpf:
    """The loss from its definition (no rewriting) at the current mpmath precision."""
    y, pw, w = mpmath.mpf(y), mpmath.mpf(pw), mpmath.mpf(w)
    if form == "probs":
        return -w * (y * mpmath.log(x) + (1 - y) * mpmath.log(1 - x))
    p = 1 / (1 + mpmath.exp(-x))
    return -w * (pw * y * mpmath.log(p) + (1 - y) * mpmath.log(1 - p))


@pytest.mark.parametrize("form", ["probs", "logits"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradient_matches_high_precision_finite_differences(form, reduction):
    rng = np.random.default_rng(7)
    n = 60
    x = rng.uniform(1e-4, 1 - 1e-4, n) if form == "probs" else rng.normal(0, 6, n)
    y = np.where(rng.random(n) < 0.3, rng.uniform(0, 1, n), rng.random(n) < 0.5).astype(float)
    w = rng.uniform(0, 3, n)
    pw = rng.uniform(0.1, 5, n) if form == "logits" else None
    inputs = Inputs(form, "float64", x, y, w, pw)
    hi, lo, scale_of_error = compute(inputs).gradient(reduction)
    with mpmath.workprec(300):
        scale = mpmath.mpf(1) / n if reduction == "mean" else mpmath.mpf(1)
        h = mpmath.mpf(2) ** -120
        for i in range(n):
            pw_i = 1.0 if pw is None else pw[i]
            xi = mpmath.mpf(x[i])
            up = _loss_at(form, xi + h, y[i], pw_i, w[i])
            down = _loss_at(form, xi - h, y[i], pw_i, w[i])
            numeric = (up - down) / (2 * h) * scale  # central difference: error O(h^2)
            analytic = mpmath.mpf(hi[i]) + mpmath.mpf(lo[i])
            assert abs(analytic - numeric) <= mpmath.mpf(2) ** -95 * max(1, abs(numeric)), i
            if y[i] in (0.0, 1.0):  # one term: measured against the gradient itself
                assert scale_of_error[i] == 0.0, i
            else:  # the terms bound the difference
                assert scale_of_error[i] >= abs(hi[i]) * (1 - 1e-15), i


def test_gradient_limits_at_the_ends():
    inputs = Inputs("probs", "float64", np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]))
    hi, _, _ = compute(inputs).gradient("none")
    assert hi.tolist() == [1.0, -math.inf, -1.0]  # d/dp -log(1-p) at 0; -1/p at 0; -1/p at 1
    inputs = Inputs("logits", "float64", np.array([math.inf, -math.inf]), np.array([1.0, 1.0]))
    hi, _, _ = compute(inputs).gradient("none")
    assert hi.tolist() == [0.0, -1.0]


def test_pytorch_gradient_floor_convention():
    torch_like = Conventions(grad_denominator_floor=1e-12)
    inputs = Inputs("probs", "float64", np.array([0.0, 1e-30]), np.array([1.0, 0.0]))
    hi, _, _ = compute(inputs, torch_like).gradient("none")
    assert hi.tolist() == [pytest.approx(-1e12), pytest.approx(1e-18)]


def test_clip_passes_no_gradient_outside_its_range():
    keras_like = Conventions(prob_clip=1e-7)
    inputs = Inputs("probs", "float32", np.array([0.0, 0.5, math.nan]), np.array([1.0, 1.0, 1.0]))
    hi, _, _ = compute(inputs, keras_like).gradient("none")
    assert hi[0] == 0.0 and hi[1] == pytest.approx(-2.0) and hi[2] == 0.0


def test_minmax_clip_halves_the_gradient_at_a_bound_and_keeps_nan():
    """jnp.clip = minimum(maximum(p, lo), hi): JAX splits a tie's gradient between max's
    arguments, and multiplies (so 0 * an overflowed gradient is NaN); a NaN p stays NaN."""
    jax_like = Conventions(prob_clip=1e-7, clip_gradient="minmax")
    hi_bound = float(np.float32(1 - 1e-7))
    p = np.array([hi_bound, 0.5, 0.0, math.nan])
    inputs = Inputs("probs", "float32", p, np.array([0.0, 1.0, 0.0, 1.0]))
    grad, _, _ = compute(inputs, jax_like).gradient("none")
    exact_at_bound = 1 / (1 - hi_bound)  # d/dp -log(1 - p)
    assert grad[0] == pytest.approx(exact_at_bound / 2, rel=1e-12)
    assert grad[1] == pytest.approx(-2.0) and grad[2] == 0.0 and math.isnan(grad[3])
    # float16: the bound 1.19e-7 gives -1/p = -8.4e6, beyond float16's 65504: 0 * inf = NaN
    half = Inputs("probs", "float16", np.array([0.0]), np.array([1.0]))
    grad16, _, _ = compute(half, jax_like).gradient("none")
    assert math.isnan(grad16[0])
    inclusive, _, _ = compute(half, Conventions(prob_clip=1e-7)).gradient("none")
    assert inclusive[0] == 0.0  # a select passes nothing, however large


def test_logits_through_probabilities_rounds_sigmoid_then_clips():
    """The Keras numpy backend: p = sigmoid(x) in the dtype, then the clipped formula."""
    numpy_backend = Conventions(prob_clip=1e-7, logits_through_probabilities=True)
    x, y = np.array([30.0, -30.0, 0.0]), np.array([0.0, 1.0, 1.0])
    hi, _ = _value("logits", x, y, dtype="float32", conventions=numpy_backend)
    lo_bound = float(np.float32(1e-7))
    top = float(np.float32(1 - 1e-7))
    assert hi[0] == pytest.approx(-math.log(1 - top), rel=1e-12)  # 15.94, not 30
    assert hi[1] == pytest.approx(-math.log(lo_bound), rel=1e-12)  # 16.12, not 30
    assert hi[2] == pytest.approx(math.log(2), rel=1e-15)
    inputs = Inputs("logits", "float64", np.array([1.5]), np.array([1.0]))
    grad, _, _ = compute(inputs, Conventions(logits_through_probabilities=True)).gradient("none")
    assert grad[0] == pytest.approx(1 / (1 + math.exp(-1.5)) - 1, rel=1e-12)  # sigmoid - y


def test_flush_applies_after_the_mean():
    ftz = Conventions(flush_subnormals=True)
    x = np.array([-80.0, 0.0])  # sigmoid(-80) = 1.8e-35 is normal; /2 stays normal
    inputs = Inputs("logits", "float32", x, np.zeros(2))
    assert compute(inputs, ftz).gradient("mean")[0][0] != 0.0
    x = np.array([-86.0] + [0.0] * 1023)  # sigmoid(-86) = 4.5e-38; /1024 is subnormal
    inputs = Inputs("logits", "float32", x, np.zeros(1024))
    assert compute(inputs, ftz).gradient("mean")[0][0] == 0.0
    assert compute(inputs).gradient("mean")[0][0] != 0.0


@pytest.mark.parametrize("form", ["probs", "logits"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_target_gradient_matches_high_precision_finite_differences(form, reduction):
    """d loss / d target, against central differences in the target (both terms are always
    there, so the error is measured at their size)."""
    rng = np.random.default_rng(11)
    n = 40
    x = rng.uniform(1e-4, 1 - 1e-4, n) if form == "probs" else rng.normal(0, 6, n)
    y = np.where(rng.random(n) < 0.5, rng.uniform(0, 1, n), rng.random(n) < 0.5).astype(float)
    w = rng.uniform(0, 3, n)
    pw = rng.uniform(0.1, 5, n) if form == "logits" else None
    hi, lo, terms = compute(Inputs(form, "float64", x, y, w, pw)).target_gradient(reduction)
    with mpmath.workprec(300):
        scale = mpmath.mpf(1) / n if reduction == "mean" else mpmath.mpf(1)
        h = mpmath.mpf(2) ** -120
        for i in range(n):
            pw_i = 1.0 if pw is None else pw[i]
            yi = mpmath.mpf(y[i])
            up = _loss_at(form, mpmath.mpf(x[i]), yi + h, pw_i, w[i])
            down = _loss_at(form, mpmath.mpf(x[i]), yi - h, pw_i, w[i])
            numeric = (up - down) / (2 * h) * scale
            analytic = mpmath.mpf(hi[i]) + mpmath.mpf(lo[i])
            assert abs(analytic - numeric) <= mpmath.mpf(2) ** -95 * max(1, abs(numeric)), i
            assert terms[i] >= abs(hi[i]) * (1 - 1e-15), i


def test_target_gradient_closed_forms_and_ends():
    """-x for logits with pw = 1; log(1 - p) - log p for probabilities, infinite at p = 0
    or 1 in the mathematics and +-100 under PyTorch's log floor; a NaN target leaves it a
    number (it does not involve the target)."""
    logits = Inputs("logits", "float64", np.array([3.0, -20.0]), np.array([0.3, 1.0]))
    assert compute(logits).target_gradient("none")[0].tolist() == [-3.0, 20.0]
    probs = Inputs("probs", "float64", np.array([0.25, 0.0, 1.0, 0.5]),
                   np.array([0.5, 0.5, 0.5, np.nan]))  # fmt: skip
    grad = compute(probs).target_gradient("none")[0]
    assert grad[0] == pytest.approx(math.log(3), rel=1e-15)
    assert grad[1] == math.inf and grad[2] == -math.inf and grad[3] == 0.0
    floored = compute(probs, Conventions(log_floor=-100.0)).target_gradient("none")[0]
    assert floored[1:3].tolist() == [100.0, -100.0]
