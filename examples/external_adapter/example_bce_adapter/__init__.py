"""An example plug-in adapter package for bce-conformance.

``example.fused_logits`` stands for a kernel someone wrote (a fused CUDA or Triton BCE, a
new framework's backend): BCE from logits with pos_weight and per-element weights,
computed in the input's dtype as ``(1 - y) softplus(x) + pw y softplus(-x)``, with its
analytic gradient. The adapter is a small class: the suite imports the package through
the ``bce_conformance.adapters`` entry point in ``pyproject.toml``.
"""

from __future__ import annotations

import numpy as np

from adapters.base import Adapter, Call, Prepared


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros_like(x), x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _times(coefficient: np.ndarray, value: np.ndarray) -> np.ndarray:
    """coefficient * value with 0 * inf = 0 (a zero label or weight drops the term)."""
    return np.where(coefficient == 0, np.zeros_like(value), coefficient * value)


class ExampleFusedLogits(Adapter):
    name = "example.fused_logits"
    framework = "example_bce_adapter"  # its import name, probed with find_spec
    distribution = ("bce-conformance-example-adapter",)
    forms = frozenset({"logits"})
    supports_pos_weight = True
    supports_grad = True
    api = "example_bce_adapter.fused_logits(x, y, weight=w, pos_weight=pw, reduction=r)"

    def dtypes(self) -> list[str]:
        return ["float32", "float64"]

    def prepare(self, call: Call) -> Prepared:
        return Prepared.direct(lambda: self._loss_and_grad(call))

    def _loss_and_grad(self, call: Call) -> tuple[np.ndarray, np.ndarray | None]:
        x, y = call.input, call.target
        pw = np.ones_like(x) if call.pos_weight is None else call.pos_weight
        w = np.ones_like(x) if call.weight is None else call.weight
        with np.errstate(all="ignore"):
            loss = _times(w, _times(1 - y, _softplus(x)) + _times(pw * y, _softplus(-x)))
            grad = _times(w, (1 - y) * _sigmoid(x) - pw * y * _sigmoid(-x))
        if call.reduction == "mean":
            return np.mean(loss), grad / x.size
        if call.reduction == "sum":
            return np.sum(loss), grad
        return loss, grad


ADAPTERS = [ExampleFusedLogits()]
