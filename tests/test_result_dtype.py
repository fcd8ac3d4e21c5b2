"""Every check records the dtype the framework returned; another dtype than the input's is
a fail, even where the value itself is right. Real PyTorch, plus a test-only adapter that
returns float64 for float32 input."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import bce_adapter
from adapters.registry import discover
from conformance.engine.cases import load_cases
from conformance.engine.matrix import Check, Runner
from conformance.engine.verdicts import Verdict

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


@bce_adapter(form="logits", name="test.upcasting")
def _upcasting(x, y, weight=None, reduction="mean"):
    """The stable formula computed in float64 and returned so: more accurate, wrong dtype."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def test_a_result_in_another_dtype_fails_even_when_its_value_is_right(case) -> None:
    result = Runner().run(Check(_upcasting, case, "float32", "cpu", "none"))
    assert result.verdict is Verdict.FAIL
    assert result.judgement.result_dtype == "float64"
    assert "returned float64 for float32 input" in result.judgement.detail
    assert "its value: pass" in result.judgement.detail
    assert Runner().run(Check(_upcasting, case, "float64", "cpu", "none")).verdict is Verdict.PASS


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("grad", [False, True])
def test_the_dtype_a_framework_returns_is_recorded(case, dtype: str, grad: bool) -> None:
    pytest.importorskip("torch")
    (adapter,) = [a for a in discover().adapters if a.name == "torch.nn.BCEWithLogitsLoss"]
    result = Runner().run(Check(adapter, case, dtype, "cpu", "none", grad))
    assert result.judgement.result_dtype == dtype
    assert result.verdict is Verdict.PASS, result.judgement.detail
