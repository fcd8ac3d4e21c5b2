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
from collections.abc import Callable
from typing import Any

import numpy as np

from adapters import formulas
from adapters.base import Adapter, Conventions
from adapters.calls import Call, Prepared
from adapters.snippets import sources


class _NumpyFormula(Adapter):
    result_dtype = "input"
    formula_declared = True  # its conventions, with their sources, are its formula
    shape_rule = "broadcast"
    shape_rule_source = (
        "https://numpy.org/doc/stable/user/basics.broadcasting.html (the suite's own "
        "formulas are NumPy expressions, broadcasting by design)"
    )
    result_dtype_source = (
        "https://numpy.org/doc/stable/reference/arrays.promotion.html (the suite's own "
        "formulas compute in the input's dtype)"
    )
    framework = "numpy"
    distribution = ("numpy",)
    supports_grad = True
    supports_target_grad = True
    forms = frozenset({"probs", "logits"})
    target_dtypes = frozenset({"int32", "int64"})
    """Whole-number labels, exact in every float, which NumPy promotes; not bool (the
    textbook's gradient negates y, which NumPy refuses for booleans) nor a float of
    another dtype (the formulas would compute 1 - y in it)."""

    def prepare(self, call: Call) -> Prepared:
        return Prepared(lambda: self._compute(call), lambda done: done)

    def _compute(self, call: Call) -> tuple[np.ndarray, np.ndarray | None]:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice"
            value = formulas.reduce(
                self._weighted(call, grad=False), call.reduction, np.mean, np.sum
            )
            if not call.grad:
                return value, None
            # the elements: input and target broadcast (a derivative that depends on the
            # other array only, d/dy = -x, has that array's shape until stretched)
            elements = np.broadcast_shapes(call.input.shape, call.target.shape)
            grad = np.broadcast_to(self._weighted(call, grad=True), elements)
            of = call.target if call.wrt == "target" else call.input
            size = int(np.prod(elements))
            return value, formulas.reduce_grad(grad, call.reduction, size, of.shape)

    def _weighted(self, call: Call, *, grad: bool) -> np.ndarray:
        """The weighted element losses, or with ``grad`` their derivatives (with respect to
        ``call.wrt``)."""
        raise NotImplementedError

    def reproducer(self, call: Call) -> str | None:
        """The formulas inlined from adapters/formulas.py and called as ``_run`` calls them."""
        value, functions = self._weighted_source(call, grad=False)
        lines = ["from typing import Any"]
        cast = f"np.{call.dtype}"
        if call.dtype == "bfloat16":
            lines.append("import ml_dtypes")
            cast = "ml_dtypes.bfloat16"
        names = [n for n in ("x", "y", "w", "pw") if _given(call, n)]
        lines += [
            "",
            f"{', '.join(names)} = {', '.join(f'{n}.astype({cast})' for n in names)}  # exact",
            "",
        ]
        grad = None
        if call.grad:
            grad, more = self._weighted_source(call, grad=True)
            functions = functions + [f for f in more if f not in functions]
        helpers = [formulas.reduce, formulas.reduce_grad] if call.grad else [formulas.reduce]
        lines += [sources(functions + helpers), "", "", 'with np.errstate(all="ignore"):']
        r = repr(call.reduction)
        lines.append(f"    loss = np.asarray(reduce({value}, {r}, np.mean, np.sum), np.float64)")
        if grad is not None:
            of = "y" if call.wrt == "target" else "x"
            lines += [
                "    elements = np.broadcast_shapes(x.shape, y.shape)",
                f"    grad = np.broadcast_to({grad}, elements)",
                f"    grad = reduce_grad(grad, {r}, int(np.prod(elements)), {of}.shape)",
                "    grad = np.asarray(grad, np.float64)",
            ]
        return "\n".join(lines)

    def _weighted_source(self, call: Call, *, grad: bool) -> tuple[str, list]:
        """``_weighted`` as an expression, and the functions of formulas.py it calls."""
        raise NotImplementedError


def _given(call: Call, name: str) -> bool:
    arrays = {"x": call.input, "y": call.target, "w": call.weight, "pw": call.pos_weight}
    return arrays[name] is not None


class NumpyTextbook(_NumpyFormula):
    name = "numpy.textbook"
    api = "-(y*np.log(p) + (1-y)*np.log(1-p)), p = 1/(1+np.exp(-x)) for logits"
    conventions = Conventions(
        complement_in_dtype=True,
        sources=("adapters/formulas.py: textbook_probs evaluates np.log(1 - p)",),
    )

    def _weighted(self, call: Call, *, grad: bool) -> np.ndarray:
        formula = self._formulas(call, grad)[call.form]
        return formulas.weighted(formula(np, call.input, call.target), call.weight)

    @staticmethod
    def _formulas(call: Call, grad: bool) -> dict[str, Callable[..., Any]]:
        """The probability and logits formulas of the value, or of the derivative."""
        if not grad:
            return {"probs": formulas.textbook_probs, "logits": formulas.textbook_logits}
        if call.wrt == "target":
            return {
                "probs": formulas.textbook_probs_target_grad,
                "logits": formulas.textbook_logits_target_grad,
            }
        return {"probs": formulas.textbook_probs_grad, "logits": formulas.textbook_logits_grad}

    def _weighted_source(self, call: Call, *, grad: bool) -> tuple[str, list]:
        chosen = self._formulas(call, grad)
        probs, logits = chosen["probs"], chosen["logits"]
        formula = probs if call.form == "probs" else logits
        used = [probs] if call.form == "probs" else [probs, logits]
        weight = "w" if call.weight is not None else "None"
        return f"weighted({formula.__name__}(np, x, y), {weight})", [*used, formulas.weighted]


class NumpyStable(_NumpyFormula):
    name = "numpy.stable"
    api = "xlogy(y, p) + xlog1py(1-y, -p); (1-y)*logaddexp(0, x) + pw*y*logaddexp(0, -x)"
    supports_pos_weight = True

    def _weighted(self, call: Call, *, grad: bool) -> np.ndarray:
        formula = self._formula(call, grad)
        x, y = call.input, call.target
        options = () if call.form == "probs" else (call.pos_weight,)
        out = formula(np, x, y, *options)
        return formulas.masked_weighted(np, out, call.weight)

    @staticmethod
    def _formula(call: Call, grad: bool) -> Callable[..., Any]:
        """The value's formula for the call's form, or its derivative's."""
        chosen: dict[tuple[str, bool, str], Callable[..., Any]] = {
            ("probs", False, "input"): formulas.stable_probs,
            ("probs", True, "input"): formulas.stable_probs_grad,
            ("probs", True, "target"): formulas.stable_probs_target_grad,
            ("logits", False, "input"): formulas.stable_logits,
            ("logits", True, "input"): formulas.stable_logits_grad,
            ("logits", True, "target"): formulas.stable_logits_target_grad,
        }
        return chosen[call.form, grad, call.wrt if grad else "input"]

    def _weighted_source(self, call: Call, *, grad: bool) -> tuple[str, list]:
        formula = self._formula(call, grad)
        if call.form == "probs":
            out = f"{formula.__name__}(np, x, y)"
        else:
            pos_weight = "pw" if call.pos_weight is not None else "None"
            out = f"{formula.__name__}(np, x, y, {pos_weight})"
        helper = {
            formulas.stable_logits_grad: formulas._sigmoid,
            formulas.stable_probs_grad: formulas._ratio,
        }.get(formula, formulas._xlogy)
        weight = "w" if call.weight is not None else "None"
        used = [formulas._xlogy, helper, formula, formulas.masked_weighted]
        return f"masked_weighted(np, {out}, {weight})", list(dict.fromkeys(used))


ADAPTERS = (NumpyTextbook(), NumpyStable())
