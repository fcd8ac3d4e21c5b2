"""Property tests with hypothesis, across every installed eager adapter, at float64.

Properties (the mathematics guarantees each; an implementation must keep them up to the
stated rounding):
- non-negative: BCE >= 0 wherever it is defined;
- symmetry: BCE(p, y) = BCE(1 - p, 1 - y), and BCE(x, y) = BCE(-x, 1 - y) for logits;
- logits = probabilities: a framework's logits API on x equals its probability API on
  sigmoid(x), where sigmoid(x) is far from 0 and 1;
- gradient sign: d BCE / dp has the sign of p - y, d BCE / dx that of sigmoid(x) - y;
- mean = sum / n;
- weight 1 = no weight, pos_weight 1 = no pos_weight.

These compare a framework with itself, so tolerances are stated at the scale where the two
evaluations round (see each test). Accuracy against the reference is the matrix's job. A
failing example is shrunk by hypothesis and printed as a YAML case for ``cases/``. Known
property failures live in known_bugs.yaml under ``properties/<name>``, like any case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adapters.base import Adapter
from adapters.calls import Call
from adapters.registry import builtin_adapters
from conformance.engine.tolerances import ELEMENT_ULPS, reduction_tolerance
from conformance.known_bugs import KnownBug, find, load_known_bugs

ADAPTERS = [a for a in builtin_adapters() if not a.extended]
FORMS = {"probs": [a for a in ADAPTERS if "probs" in a.forms],
         "logits": [a for a in ADAPTERS if "logits" in a.forms]}  # fmt: skip
# One API per form from the same framework: BCE(sigmoid(x)) against BCE with logits.
PAIRS = [
    ("torch.nn.BCELoss", "torch.nn.BCEWithLogitsLoss"),
    ("torch.nn.functional.binary_cross_entropy",
     "torch.nn.functional.binary_cross_entropy_with_logits"),
    ("keras.losses.BinaryCrossentropy", "keras.losses.BinaryCrossentropy.from_logits"),
    ("jax.numpy.textbook", "optax.sigmoid_binary_cross_entropy"),
    ("numpy.textbook", "numpy.textbook"),
    ("numpy.stable", "numpy.stable"),
]  # fmt: skip
BY_NAME = {a.name: a for a in ADAPTERS}
ULP1 = np.spacing(1.0)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,  # no local example store steering a developer's run away from CI's
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
size = st.integers(min_value=1, max_value=12)
hard_or_soft = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
probs = st.floats(1e-6, 1 - 1e-6)
logits = st.floats(-30.0, 30.0)


def _vector(elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    return size.flatmap(lambda n: arrays(np.float64, n, elements=elements))


def _pairs(x_elements: st.SearchStrategy[float]) -> st.SearchStrategy:
    return size.flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=x_elements), arrays(np.float64, n, elements=hard_or_soft)
        )
    )


def _run(adapter: Adapter, form: Any, x, y, *, reduction="none", grad=False, **options):
    call = Call(form, np.asarray(x), np.asarray(y), options.get("weight"),
                options.get("pos_weight"), reduction, "float64", "cpu", grad)  # fmt: skip
    if reason := adapter.available() or adapter.unsupported(call):
        pytest.skip(reason)
    outcome = adapter.run(call)
    assert outcome.error is None, f"{adapter.name} raised {outcome.error}"
    return outcome


def _known(adapter: Adapter, prop: str) -> KnownBug | None:
    """The registry's entry for ``prop`` failing in ``adapter``, if there is one."""
    return find(load_known_bugs(), adapter=adapter.name, case=f"properties/{prop}",
                dtype="float64", device="cpu", reduction="none", quantity="value",
                version=adapter.version())  # fmt: skip


def _settings(adapter: Adapter, prop: str) -> settings:
    """The hypothesis settings for ``prop`` on ``adapter``: a failure the registry knows is
    not shrunk (its entry states the example, and shrinking costs many calls: hypothesis's
    ``--hypothesis-show-statistics`` counts them)."""
    if _known(adapter, prop) is None:
        return SETTINGS
    return settings(SETTINGS, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def _check(prop: str, adapter: Adapter, ok: bool, form: str, x, y, detail: str) -> None:
    """Fail with a YAML case for the counterexample, unless the registry knows it."""
    if ok:
        return
    bug = _known(adapter, prop)
    if bug is not None:
        pytest.xfail(f"{bug.reason} {bug.link}")
    case = {
        "id": f"found-{prop}",
        "description": f"{prop} failed for {adapter.name}: {detail}"[:200],
        "form": form,
        "input": [float(v) for v in np.ravel(x)],
        "target": [float(v) for v in np.ravel(y)],
        "dtypes": ["float64"],
    }
    pytest.fail(f"{prop} fails for {adapter.name}: {detail}\nAs a case for cases/:\n"
                + yaml.safe_dump({"cases": [case]}, sort_keys=False), pytrace=False)  # fmt: skip


def _ulps(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(scale), np.finfo(np.float64).tiny))


def _by_form(test: Callable) -> Callable:
    params = [pytest.param(f, a, id=f"{a.name}-{f}") for f, group in FORMS.items() for a in group]
    return pytest.mark.parametrize(("form", "adapter"), params)(test)


@_by_form
def test_non_negative(form, adapter):
    @_settings(adapter, "non-negative")
    @given(_pairs(probs if form == "probs" else logits))
    def check(xy):
        x, y = xy
        value = _run(adapter, form, x, y).value
        _check("non-negative", adapter, bool(np.all(value >= 0)), form, x, y, f"{value}")

    check()


@_by_form
def test_symmetry(form, adapter):
    # Tolerance: 2 x 8 ULPs (two evaluations) at the scale they round at: the loss, plus for
    # logits |x| (x (1 - y) and x y are formed), for probabilities |log p| + |log(1 - p)|
    # (1 - y, not exact for a soft label, multiplies them).
    upper = st.floats(0.5, 1 - 1e-6)  # 1 - p is exact for p >= 0.5 (Sterbenz)
    if form == "logits" and adapter.conventions.logits_through_probabilities:
        pytest.skip(
            "a pipeline rounds sigmoid(x) to the dtype before BCE, and sigmoid(x) and "
            "sigmoid(-x) round differently: its loss is symmetric only to within that rounding, "
            "which the matrix's pipeline reference (tolerances.SIGMOID_ULPS) measures"
        )

    @_settings(adapter, "symmetry")
    @given(_pairs(upper if form == "probs" else logits))
    def check(xy):
        x, y = xy
        mirrored = 1 - x if form == "probs" else -x
        a = _run(adapter, form, x, y).value
        b = _run(adapter, form, mirrored, 1 - y).value
        extra = np.abs(x) if form == "logits" else np.abs(np.log(x)) + np.abs(np.log1p(-x))
        worst = float(np.max(_ulps(a, b, np.maximum(np.abs(a), np.abs(b)) + extra)))
        _check("symmetry", adapter, worst <= 2 * ELEMENT_ULPS, form, x, y, f"{worst:.3g} ULP")

    check()


@pytest.mark.parametrize(("probs_name", "logits_name"), PAIRS, ids=[p[1] for p in PAIRS])
def test_logits_equal_probabilities_of_sigmoid(probs_name, logits_name):
    # |x| <= 8 keeps sigmoid(x) in [3e-4, 1 - 3e-4]. p = 1 / (1 + exp(-x)) computed in float64
    # is within 2 ULPs of sigmoid(x) (exp <= 1 ULP, the sum and the division 0.5 each; 1.3
    # measured at x = 6.756), which moves the loss by |dL/dp| 2 ulp(p) = |p - y| / (p (1 - p))
    # 2 ulp(p); on top, 2 x 8 ULPs of the loss and of the unit (the complement 1 - p is
    # formed at scale 1 in log(1 - p)).
    probs_adapter, logits_adapter = BY_NAME.get(probs_name), BY_NAME.get(logits_name)
    if probs_adapter is None or logits_adapter is None:
        pytest.skip("adapter not built in")

    @_settings(logits_adapter, "logits-equal-probabilities")
    @given(_pairs(st.floats(-8.0, 8.0)))
    def check(xy):
        x, y = xy
        p = 1 / (1 + np.exp(-x))
        from_logits = _run(logits_adapter, "logits", x, y).value
        from_probs = _run(probs_adapter, "probs", p, y).value
        slack = np.abs(p - y) / (p * (1 - p)) * 2 * np.spacing(p)
        allowed = 2 * ELEMENT_ULPS * (np.spacing(np.abs(from_logits)) + ULP1) + slack
        ok = bool(np.all(np.abs(from_logits - from_probs) <= allowed))
        _check("logits-equal-probabilities", logits_adapter, ok, "logits", x, y,
               f"{from_logits} vs {from_probs}")  # fmt: skip

    check()


@_by_form
def test_gradient_sign(form, adapter):
    @_settings(adapter, "gradient-sign")
    @given(_pairs(probs if form == "probs" else logits))
    def check(xy):
        x, y = xy
        grad = _run(adapter, form, x, y, reduction="sum", grad=True).grad
        driver = x - y if form == "probs" else 1 / (1 + np.exp(-x)) - y
        clear = np.abs(driver) > 1e-6  # the sign is decided, not lost in rounding
        ok = bool(np.all(np.sign(grad[clear]) == np.sign(driver[clear])))
        _check("gradient-sign", adapter, ok, form, x, y, f"grad {grad} for driver {driver}")

    check()


@_by_form
def test_mean_is_sum_over_n(form, adapter):
    @_settings(adapter, "mean-is-sum-over-n")
    @given(_pairs(probs if form == "probs" else logits))
    def check(xy):
        x, y = xy
        mean = float(_run(adapter, form, x, y, reduction="mean").value)
        total = float(_run(adapter, form, x, y, reduction="sum").value)
        # each is within the reduction bound of the exact value, so of each other twice that
        allowed = 2 * reduction_tolerance(x.size, "mean")
        worst = float(_ulps(np.array(mean), np.array(total / x.size), np.array(mean)))
        _check("mean-is-sum-over-n", adapter, worst <= allowed, form, x, y, f"{worst:.3g} ULP")

    check()


@_by_form
def test_unit_weight_is_no_weight(form, adapter):
    @_settings(adapter, "unit-weight")
    @given(_pairs(probs if form == "probs" else logits))
    def check(xy):
        x, y = xy
        plain = _run(adapter, form, x, y).value
        weighted = _run(adapter, form, x, y, weight=np.ones_like(x)).value
        worst = float(np.max(_ulps(plain, weighted, plain)))
        _check("unit-weight", adapter, worst <= 2 * ELEMENT_ULPS, form, x, y, f"{worst:.3g} ULP")

    check()


@pytest.mark.parametrize("adapter", FORMS["logits"], ids=lambda a: a.name)
def test_unit_pos_weight_is_no_pos_weight(adapter):
    @_settings(adapter, "unit-pos-weight")
    @given(_pairs(logits))
    def check(xy):
        x, y = xy
        plain = _run(adapter, "logits", x, y).value
        weighted = _run(adapter, "logits", x, y, pos_weight=np.ones_like(x)).value
        worst = float(np.max(_ulps(plain, weighted, plain)))
        ok = worst <= 2 * ELEMENT_ULPS
        _check("unit-pos-weight", adapter, ok, "logits", x, y, f"{worst:.3g} ULP")

    check()
