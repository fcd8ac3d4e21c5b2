"""What an adapter returns is checked before it is judged: each malformed return is an
``error`` verdict saying what came back and what was expected, never a traceback and
never a value judged as NaN."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.function import bce_adapter
from conformance.cli import main
from conformance.engine.matrix import Check, Runner
from conformance.reports.document import load_document
from conformance.vocabulary import Quantity, Verdict


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def _stable(p, y):
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


RETURNS = {
    "none": (
        lambda p, y: None,
        "returned None; expected the loss of shape (1,) (reduction='none')",
    ),
    "string": (lambda p, y: "0.69", "returned str '0.69'; expected the loss of shape (1,)"),
    "object": (lambda p, y: _Opaque(), "returned _Opaque <opaque> with non-numeric dtype object"),
    "complex": (lambda p, y: _stable(p, y) + 0j, "with complex dtype complex128"),
    "bool": (lambda p, y: np.array([True]), "with non-numeric dtype bool"),
    "wrong-shape": (
        lambda p, y: np.zeros((2, 2)),
        "returned an array of shape (2, 2); expected the loss of shape (1,) (reduction='none')",
    ),
    "ragged": (lambda p, y: [[1.0], [1.0, 2.0]], "which NumPy cannot read (ValueError"),
    "triple": (lambda p, y: (1.0, 2.0, 3.0), "returned a tuple of 3 items; expected the loss"),
}


def _result(folder, function, *, grad=None, quantity=Quantity.VALUE):
    from conformance.engine.cases import load_cases

    cases, _ = load_cases([folder])  # the first is two/half: p = 0.5, y = 1
    adapter = bce_adapter(function, reductions=("none",), dtypes=("float64",), grad=grad)
    check = Check(adapter, cases[0], "float64", "cpu", "none", quantity)
    return Runner().run(check)


@pytest.mark.parametrize("kind", sorted(RETURNS))
def test_malformed_returns_are_errors_that_say_what_came_back(two_cases, kind):
    function, message = RETURNS[kind]
    result = _result(two_cases, function)
    assert result.verdict is Verdict.ERROR
    assert message in result.judgement.detail


def test_a_well_formed_return_still_passes(two_cases):
    assert _result(two_cases, _stable).verdict is Verdict.PASS


def test_gradient_returns_are_checked_too(two_cases):
    wrong_shape = _result(
        two_cases, _stable, grad=lambda p, y: np.zeros(3), quantity=Quantity.GRAD
    ).judgement.detail
    assert (
        "returned an array of shape (3,); expected the gradient with respect to the input, "
        "of shape (1,)" in wrong_shape
    )
    none = _result(two_cases, _stable, grad=lambda p, y: None, quantity=Quantity.GRAD)
    assert (
        none.verdict is Verdict.ERROR
        and "(loss, None); expected a gradient" in none.judgement.detail
    )
    right = _result(
        two_cases, _stable, grad=lambda p, y: (p - y) / (p * (1 - p)), quantity=Quantity.GRAD
    )
    assert right.verdict is Verdict.PASS


@pytest.mark.integration
def test_cli_run_with_malformed_adapters_writes_a_complete_report(tmp_path, capsys):
    (tmp_path / "bad.py").write_text(
        "from adapters.function import bce_adapter\n"
        "string = bce_adapter(lambda p, y: 'x', reductions=('mean',), name='bad.string')\n"
        "nothing = bce_adapter(lambda p, y: None, reductions=('mean',), name='bad.none')\n"
    )
    out = tmp_path / "r.json"
    args = ["run", "--output", str(out), "--devices", "cpu", "--adapters", "bad.*"]
    for name in ("string", "nothing"):
        args += ["--adapter", f"{tmp_path / 'bad.py'}:{name}"]
    assert main(args) == 1
    report = load_document(out)
    assert report["complete"] is True
    ran = [c for c in report["checks"] if c["verdict"] != "skip"]
    assert ran and {c["verdict"] for c in ran} == {"error"}
    assert any(c["detail"].startswith("returned str 'x'") for c in ran)
    assert any(c["detail"].startswith("returned None") for c in ran)


def test_framework_tensors_are_read_detached_with_their_own_dtype(two_cases):
    """A plug-in that returns what its framework computed, a tensor that requires grad
    among them, is judged on those values, and its result dtype is the tensor's."""
    torch = pytest.importorskip("torch")

    def torch_loss(p, y):
        p_t = torch.tensor(p, requires_grad=True)
        return -(torch.tensor(y) * torch.log(p_t) + (1 - torch.tensor(y)) * torch.log1p(-p_t))

    result = _result(two_cases, torch_loss)
    assert result.verdict is Verdict.PASS, result.judgement.detail
    assert result.judgement.result_dtype == "float64"
