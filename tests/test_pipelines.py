"""Pipelines (a sigmoid, then BCE on probabilities): the reference admits every sigmoid
within its budget and nothing beyond it, a correct hand-written pipeline gets no fail on
any logits case (value and gradient, every dtype), and the hunt finds no false alarm in it.
Real NumPy, real reference; the framework pipelines run in the conformance matrix."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from adapters import bce_adapter
from adapters.base import Conventions
from conformance import hunt
from conformance.engine.cases import load_cases
from conformance.engine.comparison import compare
from conformance.engine.dtypes import float_format
from conformance.engine.matrix import CASES_DIR, Runner, expand
from conformance.engine.reference import Inputs, compute
from conformance.engine.tolerances import ELEMENT_ULPS, SIGMOID_ULPS
from conformance.known_bugs import load_known_bugs
from conformance.vocabulary import Quantity, Verdict

THROUGH_SIGMOID = Conventions(logits_through_probabilities=True)
NUMPY_TYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
               "float64": np.float64}  # fmt: skip


def _sigmoid_in(dtype: np.dtype, x: np.ndarray) -> np.ndarray:
    """sigmoid(x) correctly rounded to ``dtype`` (evaluated in float64, where it is exact to
    far under the half-ULP of every narrower dtype; float64 itself stays within a ULP)."""
    e = np.exp(-np.abs(x.astype(np.float64)))  # never overflows: e^x / (1 + e^x) for x < 0
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(dtype)


def _pipeline_loss(x: np.ndarray, y: np.ndarray, weight=None) -> np.ndarray:
    """sigmoid in the dtype, then -(y log p + (1 - y) log(1 - p)) with 0 log 0 = 0, in float64."""
    p = _sigmoid_in(x.dtype, x).astype(np.float64)
    yy = y.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(yy == 0, 0.0, -yy * np.log(p))
        second = np.where(yy == 1, 0.0, -(1 - yy) * np.log1p(-p))
    loss = first + second
    return (loss if weight is None else weight.astype(np.float64) * loss).astype(x.dtype)


def _pipeline_grad(x: np.ndarray, y: np.ndarray, weight=None) -> np.ndarray:
    """d/dx through the rounded p: (-y / p + (1 - y) / (1 - p)) p (1 - p), simplified to
    p - y so nothing divides by 0, in float64."""
    p = _sigmoid_in(x.dtype, x).astype(np.float64)
    grad = p - y.astype(np.float64)
    return (grad if weight is None else weight.astype(np.float64) * grad).astype(x.dtype)


def _pipeline_target_grad(x: np.ndarray, y: np.ndarray, weight=None) -> np.ndarray:
    """d/dy at the rounded p: log(1 - p) - log p, in float64."""
    p = _sigmoid_in(x.dtype, x).astype(np.float64)
    with np.errstate(divide="ignore"):
        grad = np.log1p(-p) - np.log(p)
    return (grad if weight is None else weight.astype(np.float64) * grad).astype(x.dtype)


hand_written_pipeline = bce_adapter(
    _pipeline_loss,
    form="logits",
    reductions=("none",),
    dtypes=tuple(NUMPY_TYPES),
    grad=_pipeline_grad,
    target_grad=_pipeline_target_grad,
    name="test.hand_written_pipeline",
    conventions=THROUGH_SIGMOID,
)


def _reference(x: float, y: float, dtype: str):
    inputs = Inputs("logits", dtype, np.array([x]), np.array([y]))
    return compute(inputs, THROUGH_SIGMOID)


def test_the_slack_is_the_loss_range_over_the_sigmoid_budget() -> None:
    """float32, x = 15, y = 0: 1 - p is a few ULPs, so each step of p moves the loss by
    far more than 8 ULPs; the slack spans the SIGMOID_ULPS steps either side."""
    fmt = float_format("float32")
    p = np.float32(_sigmoid_in(np.dtype(np.float32), np.array([15.0]))[0])
    ref = _reference(15.0, 0.0, "float32")
    hi, lo = ref.elementwise()
    slack = ref.slack("none", grad=False)

    def stepped(direction: float, steps: int) -> np.float32:
        q = np.float32(p)
        for _ in range(steps):
            q = np.nextafter(q, np.float32(direction))
        return q

    def loss(q: np.float32) -> float:
        return float(-np.log1p(-np.float64(q)))

    # towards 1 the loss grows fastest: that end sets the slack
    farthest = loss(stepped(1, SIGMOID_ULPS))
    assert abs(farthest - hi[0]) / fmt.ulp(hi)[0] > 100 * ELEMENT_ULPS
    assert abs(farthest - hi[0]) > abs(loss(stepped(0, SIGMOID_ULPS)) - hi[0])
    assert slack[0] == pytest.approx(abs(farthest - hi[0]), rel=1e-6)
    for candidate, within in ((farthest, True), (loss(stepped(1, SIGMOID_ULPS + 1)), False)):
        got = np.array([np.float32(candidate)])
        assert compare(got, hi, lo, ELEMENT_ULPS, fmt, None, slack).ok is within


def test_no_slack_without_a_pipeline() -> None:
    ref = compute(Inputs("logits", "float32", np.array([15.0]), np.array([0.0])))
    assert ref.slack("none", grad=False)[0] == 0.0


@pytest.mark.integration
@pytest.mark.parametrize("dtype", list(NUMPY_TYPES))
def test_a_correct_hand_written_pipeline_never_fails(dtype: str) -> None:
    """Every logits case of the suite (extreme logits +-20 ... +-1e4 included), value and
    gradients (input and target): pass or convention, never fail."""
    cases, errors = load_cases([CASES_DIR])
    assert not errors
    checks = expand(
        [c for c in cases if c.form == "logits" and c.expect_error is None],
        [hand_written_pipeline],
        [dtype],
        ["cpu"],
    )
    runner = Runner(load_known_bugs())
    results = [runner.run(check) for check in checks]
    ran = [r for r in results if r.verdict is not Verdict.SKIP]
    assert len(ran) > 50
    wrong = [(r.check.id, r.judgement.detail) for r in ran if r.verdict not in
             (Verdict.PASS, Verdict.CONVENTION)]  # fmt: skip
    assert not wrong, wrong[:5]
    assert any(r.verdict is Verdict.CONVENTION for r in ran), "saturation is a convention"
    assert {r.check.quantity for r in ran} == {Quantity.VALUE, Quantity.GRAD, Quantity.TARGET_GRAD}


@pytest.mark.integration
@pytest.mark.parametrize("quantity", [Quantity.VALUE, Quantity.GRAD])
def test_the_hunt_raises_no_false_alarm_on_a_correct_pipeline(quantity: Quantity) -> None:
    found = hunt.search(hand_written_pipeline, "logits", "float32", quantity, 3.0, Runner([]))
    assert found is None, found
