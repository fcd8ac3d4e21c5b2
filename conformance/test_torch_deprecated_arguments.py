"""PyTorch's deprecated ``size_average`` and ``reduce`` arguments, still accepted and still
in tutorials: every combination must give exactly the reduction it stands for, and warn.

The expected reduction comes from the documented rule (torch.nn.BCELoss docs): ``reduce``
False returns the per-element loss and ignores ``size_average``; otherwise ``size_average``
False sums; otherwise (both default True) the mean.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

SETTINGS = [
    (size_average, reduce)
    for size_average, reduce in itertools.product([None, True, False], repeat=2)
    if (size_average, reduce) != (None, None)  # both unset: not the deprecated path
]


def documented_reduction(size_average: bool | None, reduce: bool | None) -> str:
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _inputs():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(0, 2, (4, 3)))
    y = torch.from_numpy((rng.random((4, 3)) < 0.5).astype(np.float64))
    w = torch.from_numpy(rng.uniform(0.5, 2, (3,)))
    return x, y, w


def _module_call(name: str, legacy: dict, x, y, w):
    if name == "BCELoss":
        return torch.nn.BCELoss(weight=w, **legacy)(torch.sigmoid(x), y)
    return torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=2 * w, **legacy)(x, y)


def _functional_call(name: str, legacy: dict, x, y, w):
    if name == "BCELoss":
        return torch.nn.functional.binary_cross_entropy(torch.sigmoid(x), y, weight=w, **legacy)
    return torch.nn.functional.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=2 * w, **legacy
    )


@pytest.mark.parametrize("call", [_module_call, _functional_call], ids=["module", "functional"])
@pytest.mark.parametrize("name", ["BCELoss", "BCEWithLogitsLoss"])
@pytest.mark.parametrize(("size_average", "reduce"), SETTINGS)
def test_deprecated_arguments_mean_their_reduction_and_warn(call, name, size_average, reduce):
    x, y, w = _inputs()
    legacy = {"size_average": size_average, "reduce": reduce}
    expected_reduction = documented_reduction(size_average, reduce)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        legacy_value = call(name, legacy, x, y, w)
    assert any("deprecated" in str(c.message) for c in caught), [str(c.message) for c in caught]
    modern_value = call(name, {"reduction": expected_reduction}, x, y, w)
    assert legacy_value.shape == modern_value.shape
    assert torch.equal(legacy_value, modern_value)  # the same computation, bit for bit


def test_module_records_the_translated_reduction():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size_average, reduce in SETTINGS:
            module = torch.nn.BCELoss(size_average=size_average, reduce=reduce)
            assert module.reduction == documented_reduction(size_average, reduce)
