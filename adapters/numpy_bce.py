"""NumPy adapters: the BCE formulas people write by hand, run in NumPy.

``numpy.textbook`` is the formula as written in textbooks; ``numpy.stable`` uses log1p and
logaddexp. Their gradients are the analytic derivatives of the formulas as written
(``adapters/formulas.py``). Both take probabilities and logits and per-element weights;
``numpy.stable`` also takes pos_weight. They raise no error on out-of-range inputs: NumPy
returns NaN and warns, and the warning is silenced here because the value is what is being
checked.
"""

from __future__ import annotations

import warnings

import numpy as np

from adapters import formulas
from adapters.base import Adapter, Call, Conventions


class _NumpyFormula(Adapter):
    framework = "numpy"
    distribution = ("numpy",)
    supports_grad = True
    forms = frozenset({"probs", "logits"})

    def _run(self, call: Call) -> tuple[np.ndarray, np.ndarray | None]:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice"
            value = formulas.reduce(
                self._weighted(call, grad=False), call.reduction, np.mean, np.sum
            )
            if not call.grad:
                return value, None
            grad = self._weighted(call, grad=True)
            return value, formulas.reduce_grad(grad, call.reduction, call.input.size)

    def _weighted(self, call: Call, *, grad: bool) -> np.ndarray:
        """The weighted element losses, or with ``grad`` their derivatives."""
        raise NotImplementedError


class NumpyTextbook(_NumpyFormula):
    name = "numpy.textbook"
    api = "-(y*np.log(p) + (1-y)*np.log(1-p)), p = 1/(1+np.exp(-x)) for logits"
    conventions = Conventions(
        complement_in_dtype=True,
        sources=("adapters/formulas.py: textbook_probs evaluates np.log(1 - p)",),
    )

    def _weighted(self, call: Call, *, grad: bool) -> np.ndarray:
        formula = {
            ("probs", False): formulas.textbook_probs,
            ("probs", True): formulas.textbook_probs_grad,
            ("logits", False): formulas.textbook_logits,
            ("logits", True): formulas.textbook_logits_grad,
        }[call.form, grad]
        return formulas.weighted(formula(np, call.input, call.target), call.weight)


class NumpyStable(_NumpyFormula):
    name = "numpy.stable"
    api = "xlogy(y, p) + xlog1py(1-y, -p); (1-y)*logaddexp(0, x) + pw*y*logaddexp(0, -x)"
    supports_pos_weight = True

    def _weighted(self, call: Call, *, grad: bool) -> np.ndarray:
        x, y = call.input, call.target
        if call.form == "probs":
            out = (formulas.stable_probs_grad if grad else formulas.stable_probs)(np, x, y)
        else:
            logits = formulas.stable_logits_grad if grad else formulas.stable_logits
            out = logits(np, x, y, call.pos_weight)
        return formulas.masked_weighted(np, out, call.weight)


ADAPTERS = (NumpyTextbook(), NumpyStable())
