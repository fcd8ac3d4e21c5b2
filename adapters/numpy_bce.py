"""NumPy adapters: the BCE formulas people write by hand, run in NumPy.

``numpy.textbook`` is the formula as written in textbooks; ``numpy.stable`` uses log1p and
logaddexp. Both take probabilities and logits, per-element weights, and (stable only)
pos_weight. They raise no error on out-of-range inputs: NumPy returns NaN and warns, and
the warning is silenced here because the value is what is being checked.
"""

from __future__ import annotations

import numpy as np

from adapters import formulas
from adapters.base import Adapter, Call, Conventions


class _NumpyFormula(Adapter):
    framework = "numpy"
    distribution = ("numpy",)
    forms = frozenset({"probs", "logits"})

    def _run(self, call: Call) -> np.ndarray:
        with np.errstate(all="ignore"):
            return formulas.reduce(self._weighted(call), call.reduction, np.mean, np.sum)

    def _weighted(self, call: Call) -> np.ndarray:
        raise NotImplementedError


class NumpyTextbook(_NumpyFormula):
    name = "numpy.textbook"
    api = "-(y*np.log(p) + (1-y)*np.log(1-p)), p = 1/(1+np.exp(-x)) for logits"
    conventions = Conventions(
        complement_in_dtype=True,
        sources=("adapters/formulas.py: textbook_probs evaluates np.log(1 - p)",),
    )

    def _weighted(self, call: Call) -> np.ndarray:
        if call.form == "probs":
            loss = formulas.textbook_probs(np, call.input, call.target)
        else:
            loss = formulas.textbook_logits(np, call.input, call.target)
        return formulas.weighted(loss, call.weight)


class NumpyStable(_NumpyFormula):
    name = "numpy.stable"
    api = "xlogy(y, p) + xlog1py(1-y, -p); (1-y)*logaddexp(0, x) + pw*y*logaddexp(0, -x)"
    supports_pos_weight = True

    def _weighted(self, call: Call) -> np.ndarray:
        if call.form == "probs":
            loss = formulas.stable_probs(np, call.input, call.target)
        else:
            loss = formulas.stable_logits(np, call.input, call.target, call.pos_weight)
        return formulas.masked_weighted(np, loss, call.weight)


ADAPTERS = (NumpyTextbook(), NumpyStable())
