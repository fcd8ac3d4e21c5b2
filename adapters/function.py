"""Make a plain function an adapter: ``@bce_adapter(form="probs", reductions=("mean",))``.

For people who wrote their own BCE (a NumPy loop, a fused kernel behind a Python call) and
want to know whether it conforms, without writing a subclass::

    @bce_adapter(form="probs", reductions=("mean",), dtypes=("float32", "float64"))
    def my_bce(p, y):
        return -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))

The function takes NumPy arrays already in the check's dtype (ml_dtypes for bfloat16) and
returns the loss as anything NumPy can read. What it supports is read from its signature:
a ``weight`` parameter means it takes per-element weights, ``pos_weight`` the logits
form's positive weight, ``reduction`` that it computes every reduction it is asked for
(``"none"``, ``"mean"``, ``"sum"``; ``"weighted_mean"`` too where ``reductions`` lists it);
without one, ``reductions`` says which it computes. ``label_smoothing``, ``axis`` and
``sample_weight`` parameters take those options (see the case files' options), given only
when a case sets them.
``grad=`` names a function with the same parameters returning d(loss)/d(input) (of the
sum of the element losses, for ``none``), checked like every framework's gradient;
``target_grad=`` likewise d(loss)/d(target).
Anything it does not support is a ``skip`` with the reason. The decorated name is an
``Adapter`` (pass it as ``--adapter my_file.py:my_bce``) that can still be called as the
function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from adapters.base import Adapter, Conventions
from adapters.calls import ALL_REDUCTIONS, DTYPES, FORMS, REDUCTIONS, TARGET_DTYPES, Call, Prepared

NO_CONVENTIONS = Conventions()


class FunctionAdapterError(TypeError):
    """``bce_adapter`` was given options that do not fit the function."""


class FunctionAdapter(Adapter):
    """An adapter around one plain function (see the module docstring)."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        form: str | Iterable[str],
        reductions: Iterable[str] | None,
        dtypes: Iterable[str],
        grad: Callable[..., Any] | None,
        target_grad: Callable[..., Any] | None,
        name: str | None,
        framework: str,
        requires: Iterable[str],
        conventions: Conventions,
        result_dtype: str | None = None,
        domain: str | None = None,
        target_dtypes: Iterable[str] = (),
    ) -> None:
        label = getattr(function, "__qualname__", repr(function))
        parameters = _parameters(function, label)
        self.function, self.grad_function = function, grad
        self.target_grad_function = target_grad
        self.name = name or str(getattr(function, "__name__", label))
        self.framework = framework
        self._requires = tuple(requires)
        self.forms = frozenset([form] if isinstance(form, str) else form)
        self.takes_reduction = "reduction" in parameters
        self.reductions = frozenset(_reductions(reductions, self.takes_reduction, label))
        self._dtypes = list(dtypes)
        self.supports_weight = "weight" in parameters
        self.supports_pos_weight = "pos_weight" in parameters
        self.supports_label_smoothing = "label_smoothing" in parameters
        self.supports_axis = "axis" in parameters
        self.supports_sample_weight = "sample_weight" in parameters
        self.supports_grad = grad is not None
        self.supports_target_grad = target_grad is not None
        if result_dtype not in (None, "input"):
            raise FunctionAdapterError(
                f'bce_adapter({label}): result_dtype={result_dtype!r}; give "input" (the '
                "result has the input's dtype) or leave it out (no promise)"
            )
        self.result_dtype = result_dtype
        self.result_dtype_source = f"declared: bce_adapter({label}, result_dtype='input')"
        self.formula_declared = conventions is not NO_CONVENTIONS
        self.conventions = _with_domain(conventions, domain)
        self.api = f"{getattr(function, '__module__', '?')}.{label}{inspect.signature(function)}"
        _check_choices("form", self.forms, FORMS, label)
        _check_choices("dtypes", self._dtypes, DTYPES, label)
        self.target_dtypes = frozenset(target_dtypes)
        _check_choices("target_dtypes", self.target_dtypes, TARGET_DTYPES, label)
        for option, derivative in (("grad", grad), ("target_grad", target_grad)):
            if derivative is None:
                continue
            derivative_parameters = _parameters(derivative, f"{option} of {label}")
            if derivative_parameters != parameters:
                raise FunctionAdapterError(
                    f"bce_adapter({label}): {option} takes {sorted(derivative_parameters)}, "
                    f"the function {sorted(parameters)}; give both the same parameters"
                )

    @property
    def requires(self) -> tuple[str, ...]:
        return self._requires

    @property
    def extra(self) -> str:
        return ""  # the user's own modules: this project installs none of them

    def dtypes(self) -> list[str]:
        return list(self._dtypes)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Still the user's function."""
        return self.function(*args, **kwargs)

    def prepare(self, call: Call) -> Prepared:
        """The function itself is the whole call (whatever it converts is timed with it)."""
        return Prepared.direct(lambda: self._compute(call), converts_inputs=True)

    def _compute(self, call: Call) -> Any:
        options: dict[str, Any] = {}
        if self.takes_reduction:
            options["reduction"] = call.reduction
        if call.weight is not None:
            options["weight"] = call.weight
        if call.pos_weight is not None:
            options["pos_weight"] = call.pos_weight
        if call.label_smoothing:
            options["label_smoothing"] = call.label_smoothing
        if call.axis is not None:
            options["axis"] = call.axis
        if call.sample_weight is not None:
            options["sample_weight"] = call.sample_weight
        with np.errstate(all="ignore"):  # log(0), 0 * inf: the value is what is judged
            value = self.function(call.input, call.target, **options)
            if not call.grad:
                return value
            derivative = self.target_grad_function if call.wrt == "target" else self.grad_function
            assert derivative is not None  # unsupported() skips the calls it cannot make
            return value, derivative(call.input, call.target, **options)


def _parameters(function: Callable[..., Any], label: str) -> set[str]:
    """The option names a function takes after (input, target)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise FunctionAdapterError(
            f"bce_adapter({label}): cannot read its signature: {exc}"
        ) from None
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if len(positional) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in positional):
        raise FunctionAdapterError(
            f"bce_adapter({label}): the function must take (input, target), it takes {signature}"
        )
    return {name for name in list(signature.parameters)[2:] if name != "self"}


def _with_domain(conventions: Conventions, domain: str | None) -> Conventions:
    """``conventions`` with the declared domain: "raises" (probabilities and targets outside
    [0, 1] raise), where the documentation states the valid inputs (a value returned for
    invalid input is then ``accepts_invalid``), or None (nothing declared)."""
    if domain is None:
        return conventions
    if domain == "raises":
        return replace(conventions, checks_probability_range=True, checks_target_range=True)
    return replace(conventions, documented_domain=domain)


def _reductions(given: Iterable[str] | None, takes_reduction: bool, label: str) -> list[str]:
    if given is not None:
        chosen = list(given)
        _check_choices("reductions", chosen, ALL_REDUCTIONS, label)
        if len(chosen) > 1 and not takes_reduction:
            raise FunctionAdapterError(
                f"bce_adapter({label}): reductions={tuple(chosen)} but the function has no "
                "'reduction' parameter to tell them apart; give one reduction, or add "
                "reduction='mean' to its parameters"
            )
        return chosen
    if takes_reduction:
        return list(REDUCTIONS)
    raise FunctionAdapterError(
        f"bce_adapter({label}): say which reduction the function computes, e.g. "
        "reductions=('mean',) (or ('none',) for element losses), or give it a 'reduction' "
        "parameter"
    )


def _check_choices(option: str, values: Iterable[str], choices: Iterable[str], label: str) -> None:
    bad = [v for v in values if v not in choices]
    if bad:
        raise FunctionAdapterError(
            f"bce_adapter({label}): {option} {bad} not among {', '.join(choices)}"
        )


def bce_adapter(
    function: Callable[..., Any] | None = None,
    *,
    form: str | Iterable[str] = "probs",
    reductions: Iterable[str] | None = None,
    dtypes: Iterable[str] = ("float32", "float64"),
    grad: Callable[..., Any] | None = None,
    target_grad: Callable[..., Any] | None = None,
    name: str | None = None,
    framework: str = "python",
    requires: Iterable[str] = (),
    conventions: Conventions = NO_CONVENTIONS,
    result_dtype: str | None = None,
    domain: str | None = None,
    target_dtypes: Iterable[str] = (),
) -> FunctionAdapter | Callable[[Callable[..., Any]], FunctionAdapter]:
    """A decorator (``@bce_adapter(...)``) or a call (``bce_adapter(fn, ...)``) making ``fn``
    an adapter. ``requires``: modules the function imports (probed, never imported, so a
    missing one makes the adapter unavailable with the reason); ``conventions``: documented
    departures from the mathematics, as for any adapter (declaring them also declares the
    formula, so a value on invalid input is held to it).

    A function promises nothing it does not declare, and no rule it did not declare can
    fail it: ``result_dtype="input"`` promises a result of the input's dtype (a float64
    loss for float32 input then fails); ``domain="raises"`` promises to raise on
    probabilities or targets outside [0, 1]; ``domain="<link>"`` says where its
    documentation states the valid inputs (returning a value for others is then
    ``accepts_invalid``). Without a domain, a value returned for invalid input is reported
    as it is: the suite does not know the function's formula. ``target_dtypes``: the
    dtypes besides the input's the function takes its target in (integer and boolean
    labels: "bool", "int32", "int64"; or another float); cases giving another are skipped."""

    def make(fn: Callable[..., Any]) -> FunctionAdapter:
        return FunctionAdapter(
            fn,
            form=form,
            reductions=reductions,
            dtypes=dtypes,
            grad=grad,
            target_grad=target_grad,
            name=name,
            framework=framework,
            requires=requires,
            conventions=conventions,
            target_dtypes=target_dtypes,
            result_dtype=result_dtype,
            domain=domain,
        )

    return make if function is None else make(function)
