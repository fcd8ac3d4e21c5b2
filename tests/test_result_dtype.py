"""Every check records the dtype the framework returned; where the adapter declares that its
result has the input's dtype (every built-in framework adapter, with the source), another
dtype is a fail, even where the value itself is right; where it declares nothing, the dtype
is reported and not judged. Real PyTorch, plus test-only adapters that return float64 for
float32 input."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import bce_adapter
from adapters.registry import discover
from conformance.engine.cases import load_cases
from conformance.engine.matrix import Check, Runner
from conformance.vocabulary import Quantity, Verdict

CASE = """\
description: one ordinary logits case
cases:
  - id: ordinary
    description: moderate logits, hard labels, away from PyTorch's registered tails.
    form: logits
    input: [-0.5, 0.5, -3.0]
    target: [0.0, 1.0, 1.0]
    reductions: [none]
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("dtype") / "ordinary.yaml"
    path.write_text(CASE)
    cases, errors = load_cases([path])
    assert not errors
    return cases[0]


def _stable_in_float64(x, y, weight=None, reduction="mean"):
    """The stable formula computed in float64 and returned so: more accurate, float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


_upcasting = bce_adapter(
    _stable_in_float64, form="logits", name="test.upcasting", result_dtype="input"
)
_silent = bce_adapter(_stable_in_float64, form="logits", name="test.silent")


def test_a_result_in_another_dtype_fails_where_the_input_dtype_is_promised(case) -> None:
    result = Runner().run(Check(_upcasting, case, "float32", "cpu", "none"))
    assert result.verdict is Verdict.FAIL
    assert result.judgement.result_dtype == "float64"
    assert "returned float64 for float32 input" in result.judgement.detail
    assert "result_dtype='input'" in result.judgement.detail  # cites the declaration
    assert "its value: pass" in result.judgement.detail
    assert Runner().run(Check(_upcasting, case, "float64", "cpu", "none")).verdict is Verdict.PASS


def test_a_function_that_promises_no_dtype_is_not_judged_on_it(case) -> None:
    result = Runner().run(Check(_silent, case, "float32", "cpu", "none"))
    assert result.verdict is Verdict.PASS, result.judgement.detail
    assert result.judgement.result_dtype == "float64"  # reported all the same


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("quantity", [Quantity.VALUE, Quantity.GRAD])
def test_the_dtype_a_framework_returns_is_recorded(case, dtype: str, quantity: Quantity) -> None:
    pytest.importorskip("torch")
    (adapter,) = [a for a in discover().adapters if a.name == "torch.nn.BCEWithLogitsLoss"]
    result = Runner().run(Check(adapter, case, dtype, "cpu", "none", quantity))
    assert result.judgement.result_dtype == dtype
    assert result.verdict is Verdict.PASS, result.judgement.detail
