"""Turn an adapter's outcome and the reference into a verdict.

| verdict         | meaning                                                              |
| pass            | within tolerance of the mathematical reference                       |
| convention      | not the mathematics, but exactly the adapter's declared conventions  |
| accepts_invalid | a value for input the API's own documentation calls invalid          |
| fail            | neither: a wrong value, NaN/inf where the reference is finite, a     |
|                 | result in another dtype than the input's                             |
| error           | raised where a value was expected, or a value where an error was due |
| skip            | not run here (framework missing, no GPU, an option the API lacks)    |

Element by element, a value may meet the mathematics or, failing that, the reference with
the adapter's conventions applied; if every element meets one of them and at least one
needed the conventions, the verdict is ``convention``. A convention is a documented,
intended behaviour (each one cites the documentation or the source that states it).

For a case that expects an error (input outside BCE's domain), raising is a pass. A value
instead is judged against the contract the adapter is held to (``Adapter.contract``):
- a compiled mode whose eager API raises on this input: ``fail`` (a compiled mode keeps
  its eager API's contract; PyTorch's decomposition comment calls the missing check a
  limitation, not a design);
- an API whose documentation states the valid range (``Conventions.documented_domain``):
  ``accepts_invalid``, with that link; the value must still be what its formula gives;
- an API that states no domain (the suite's own formulas, which compute through by
  design): ``convention`` (no-range-check);
- a value that is not what the adapter's own formula gives: ``error``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adapters.base import Adapter, Conventions
from adapters.calls import Outcome
from conformance.engine import evidence
from conformance.engine.comparison import Comparison, compare
from conformance.engine.dtypes import FloatFormat
from conformance.engine.reference import Inputs, Reference
from conformance.engine.tolerances import (
    GRAD_ULPS,
    reduction_tolerance,
    sample_tolerance,
)
from conformance.vocabulary import Quantity, Verdict


@dataclass
class Judgement:
    verdict: Verdict
    detail: str = ""
    error_ulps: float | None = None
    """Worst error against the mathematics, in ULPs (None when no value was compared)."""
    tolerance_ulps: float | None = None
    """Tolerance at the worst element."""
    conventions: list[str] = field(default_factory=list)
    evidence: evidence.Evidence | None = None
    """The values compared with the mathematics (None when no value was compared)."""
    result_dtype: str | None = None
    """The dtype the framework returned the compared value in (None: not known)."""
    outside: np.ndarray | None = field(default=None, repr=False, compare=False)
    """For a fail of an elementwise quantity: per element, outside tolerance of both the
    mathematics and the conventions (what a known-bug condition must explain)."""


@dataclass(frozen=True)
class Comparand:
    """What a check's verdict compares: a quantity of the loss under a reduction."""

    reduction: str
    quantity: Quantity
    per_sample: bool = False
    """The unreduced loss has one value per sample (an ``axis`` averaged away)."""

    @property
    def elementwise(self) -> bool:
        """Each compared value belongs to one input element (every gradient does)."""
        return self.quantity.grad or (self.reduction == "none" and not self.per_sample)

    def expected(
        self, ref: Reference
    ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None, np.ndarray]:
        """(hi, lo, tolerance in ULPs, the scale the ULPs are taken at (None: the value),
        the reference's own width (Reference.slack))."""
        quantity = self.quantity
        slack = ref.slack(self.reduction, quantity.grad, quantity.wrt)
        if quantity is Quantity.GRAD2:
            hi, lo, terms = ref.second_gradient(self.reduction)
            return hi, lo, GRAD_ULPS, terms, np.zeros(hi.shape)  # no pipeline takes it
        if quantity.grad:
            gradient = ref.target_gradient if quantity is Quantity.TARGET_GRAD else ref.gradient
            hi, lo, terms = gradient(self.reduction)
            return hi, lo, GRAD_ULPS, terms, slack
        axis_length = ref.samples.axis_length
        if self.reduction == "none":
            hi, lo = ref.elementwise()
            return hi, lo, sample_tolerance(axis_length), None, slack
        hi, lo = ref.reduced(self.reduction)
        tolerance = reduction_tolerance(len(ref.terms), self.reduction, grouped=axis_length > 1)
        return hi, lo, tolerance, None, slack


def _compare(
    got: np.ndarray, ref: Reference, comparand: Comparand, fmt: FloatFormat
) -> tuple[Comparison, np.ndarray, np.ndarray, np.ndarray | None]:
    """The comparison, the reference (hi, lo) it was made against and the scale."""
    hi, lo, tol, scale, slack = comparand.expected(ref)
    return compare(got, hi, lo, tol, fmt, scale, slack), hi, lo, scale


def meets(
    got: np.ndarray, comparand: Comparand, fmt: FloatFormat, references: list[Reference]
) -> bool:
    """Whether ``got`` is within ``fmt``'s tolerance of any of ``references``."""
    return any(_compare(got, reference, comparand, fmt)[0].ok for reference in references)


def _describe_worst(
    got: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    scale: np.ndarray | None,
    fmt: FloatFormat,
    cmp: Comparison,
    single_term: bool,
) -> str:
    """The worst element's value, expectation and error; for a gradient in both units.
    ``single_term``: a gradient whose target-0-or-1 elements are measured relatively."""
    bad = np.flatnonzero(~cmp.within)
    index = int(bad[np.argmax(cmp.error_ulps[bad])]) if bad.size else 0
    flat_got = np.asarray(got, dtype=np.float64).reshape(-1)
    expected = float(hi.reshape(-1)[index])
    where = f"element {index}: " if hi.size > 1 else ""
    measured = f"{cmp.error_ulps[index]:.3g} ULP"
    if scale is not None:  # a gradient: give its error in both units
        terms = float(scale.reshape(-1)[index])
        relative = compare(
            flat_got[index : index + 1],
            hi.reshape(-1)[index : index + 1],
            lo.reshape(-1)[index : index + 1],
            0.0,
            fmt,
        ).error_ulps[0]
        if terms > abs(expected) or not single_term:
            measured = f"{measured} of the terms' size {terms:.3g}; {relative:.3g} ULP of the value"
        else:
            measured = f"{measured} of the value (target 0 or 1: no cancellation)"
    return (
        f"{where}got {float(flat_got[index])!r}, expected {expected!r} "
        f"({measured} > {cmp.tolerance_ulps[index]:.3g}); "
        f"{bad.size} of {hi.size} outside tolerance"
    )


def judge(
    *,
    adapter: Adapter,
    outcome: Outcome,
    expect_error: str | None,
    comparand: Comparand,
    fmt: FloatFormat,
    math_ref: Callable[[], Reference],
    convention_ref: Callable[[], Reference],
    inputs: Inputs | None = None,
    mixed_dtypes: bool = False,
) -> Judgement:
    """The verdict of one check. References are passed lazily: the convention-adjusted one
    is computed only when the mathematics alone does not explain the value. ``inputs``, when
    given, label each elementwise value of the evidence with its input and target.
    ``mixed_dtypes``: the target came in another dtype, so a promise about operands of one
    dtype (``result_dtype``) does not apply; the dtype returned is reported."""
    conv = adapter.conventions
    if outcome.malformed is not None:
        return Judgement(Verdict.ERROR, f"returned {outcome.malformed}")
    if expect_error is not None:
        return _judge_expected_error(
            adapter, outcome, expect_error, comparand, fmt, convention_ref, inputs
        )
    if outcome.error is not None:
        return Judgement(Verdict.ERROR, f"raised {outcome.error}")
    judgement = _judge_value(outcome, comparand, fmt, conv, math_ref, convention_ref, inputs)
    returned = outcome.grad_dtype if comparand.quantity.grad else outcome.value_dtype
    judgement.result_dtype = returned
    if adapter.result_dtype != "input" or mixed_dtypes or returned in (None, fmt.name):
        return judgement  # a rule the adapter did not declare is not applied
    wrong_dtype = (
        f"returned {returned} for {fmt.name} input; the API's result has its input's dtype "
        f"({adapter.result_dtype_source or 'declared by the adapter'})"
    )
    if judgement.verdict is Verdict.FAIL:
        judgement.detail = f"{judgement.detail}; {wrong_dtype}"
        return judgement
    judgement.detail = f"{wrong_dtype} (its value: {judgement.verdict.value})"
    judgement.verdict = Verdict.FAIL
    return judgement


def _judge_value(
    outcome: Outcome,
    comparand: Comparand,
    fmt: FloatFormat,
    conv: Conventions,
    math_ref: Callable[[], Reference],
    convention_ref: Callable[[], Reference],
    inputs: Inputs | None,
) -> Judgement:
    """The verdict on the value alone: pass, convention or fail."""
    # validated: shaped
    got = np.asarray(outcome.grad if comparand.quantity.grad else outcome.value)
    ref = math_ref()
    math_cmp, hi, lo, scale = _compare(got, ref, comparand, fmt)
    worst = int(np.argmax(math_cmp.error_ulps)) if math_cmp.error_ulps.size else 0
    error = math_cmp.max_error_ulps
    tolerance = float(math_cmp.tolerance_ulps[worst]) if got.size else None
    seen = evidence.collect(got, hi, lo, math_cmp, inputs if comparand.elementwise else None)
    if math_cmp.ok:
        return Judgement(Verdict.PASS, error_ulps=error, tolerance_ulps=tolerance, evidence=seen)
    explained = math_cmp.within
    if conv.alters_values():
        conv_ref = convention_ref()
        conv_cmp, _, _, _ = _compare(got, conv_ref, comparand, fmt)
        explained = math_cmp.within | conv_cmp.within
        if np.all(explained):
            needed = int(np.sum(~math_cmp.within))
            return Judgement(
                Verdict.CONVENTION,
                f"{needed} of {math_cmp.within.size} value(s) match only with conventions "
                f"applied ({conv_cmp.max_error_ulps:.3g} ULP from the convention reference)",
                error_ulps=error,
                tolerance_ulps=tolerance,
                conventions=conv.names(),
                evidence=seen,
            )
    single_term = comparand.quantity is Quantity.GRAD  # p (1 - p) always differs
    detail = _describe_worst(got, hi, lo, scale, fmt, math_cmp, single_term)
    return Judgement(
        Verdict.FAIL,
        detail,
        error_ulps=error,
        tolerance_ulps=tolerance,
        evidence=seen,
        outside=~explained if comparand.elementwise else None,
    )


def _judge_expected_error(
    adapter: Adapter,
    outcome: Outcome,
    expect_error: str,
    comparand: Comparand,
    fmt: FloatFormat,
    convention_ref: Callable[[], Reference],
    inputs: Inputs | None,
) -> Judgement:
    if outcome.error is not None:
        return Judgement(Verdict.PASS, f"raised as expected: {outcome.error}")
    got = np.asarray(outcome.grad if comparand.quantity.grad else outcome.value)
    if expect_error == "shape-mismatch":
        return _judge_shapes(adapter, got, inputs)
    if _raises_on(adapter.conventions, expect_error):
        return Judgement(
            Verdict.ERROR,
            f"{expect_error}: declares a range check but returned {_short(got)} without raising",
        )
    if _raises_on(adapter.contract, expect_error):
        return Judgement(
            Verdict.FAIL,
            f"{expect_error}: returned {_short(got)} where the eager API raises (a compiled "
            "mode is held to its eager API's contract)",
        )
    if not adapter.formula_declared:  # a user's function: its value is held to nothing
        return _computed_through(adapter, expect_error, got)
    cmp, _, _, _ = _compare(got, convention_ref(), comparand, fmt)
    if not cmp.ok:
        return Judgement(
            Verdict.ERROR,
            f"{expect_error}: returned {_short(got)}, which is not what its own formula "
            "gives on this input",
        )
    return _computed_through(adapter, expect_error, got)


def _computed_through(adapter: Adapter, expect_error: str, got: np.ndarray) -> Judgement:
    """An API that returned a value on invalid input it does not promise to refuse:
    ``accepts_invalid`` where its documentation states the valid inputs, else a
    convention (no range check, by design or by declaring none)."""
    domain = adapter.conventions.documented_domain
    computed = "its formula, computed through" if adapter.formula_declared else "computed through"
    if domain:
        return Judgement(
            Verdict.ACCEPTS_INVALID,
            f"{expect_error}: returned {_short(got)} ({computed}) for input its documentation "
            f"calls invalid: {domain}",
            conventions=["no-range-check", *adapter.conventions.names()],
        )
    if adapter.formula_declared:
        detail = f"no range check, by design; returned what its formula gives ({_short(got)})"
    else:
        detail = (
            f"no range check declared; returned {_short(got)}, which nothing here can judge "
            "(the suite does not know this function's formula)"
        )
    return Judgement(
        Verdict.CONVENTION,
        f"{expect_error}: {detail}",
        conventions=["no-range-check", *adapter.conventions.names()],
    )


def _judge_shapes(adapter: Adapter, got: np.ndarray, inputs: Inputs | None) -> Judgement:
    """A value returned for a target whose shape differs from the input's, judged by the
    shape rule the adapter declares (``Adapter.shape_rule``), citing its source."""
    shapes = "" if inputs is None else f" for target {inputs.y.shape} and input {inputs.x.shape}"
    rule, source = adapter.shape_rule, adapter.shape_rule_source
    if rule is None:
        return Judgement(
            Verdict.CONVENTION,
            f"shape-mismatch: returned {_short(got)}{shapes}; it declares no shape rule, so "
            "nothing here judges that",
            conventions=["no-shape-rule"],
        )
    if (
        rule == "broadcast"
        and inputs is not None
        and _broadcastable(inputs.y.shape, inputs.x.shape)
    ):
        return Judgement(
            Verdict.CONVENTION,
            f"shape-mismatch: broadcast{shapes} and returned {_short(got)}, as documented: "
            f"{source}",
            conventions=["broadcasts"],
        )
    if (
        rule == "trailing-one"
        and inputs is not None
        and _trailing_one(inputs.y.shape, inputs.x.shape)
    ):
        return Judgement(
            Verdict.CONVENTION,
            f"shape-mismatch: aligned a trailing size-1 axis{shapes} and returned "
            f"{_short(got)}, as documented: {source}",
            conventions=["aligns-trailing-axis"],
        )
    promise = {
        "equal": "equal shapes",
        "broadcast": "shapes that broadcast",
        "trailing-one": "shapes equal up to a trailing axis of size 1",
    }[rule]
    return Judgement(
        Verdict.FAIL,
        f"shape-mismatch: returned {_short(got)}{shapes} where it raises unless given "
        f"{promise}: {source}",
    )


def _trailing_one(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether two shapes are equal once a trailing axis of size 1 is dropped from the
    longer (Keras's squeeze_or_expand_to_same_rank)."""
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return len(longer) == len(shorter) + 1 and longer[-1] == 1 and longer[:-1] == shorter


def _broadcastable(*shapes: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _raises_on(conventions: Conventions, expect_error: str) -> bool:
    """Whether an API with these conventions raises on this kind of invalid input (the
    shape rule is the adapter's own, ``_judge_shapes``)."""
    return {
        "invalid-probability": conventions.checks_probability_range,
        "invalid-target": conventions.checks_target_range,
    }[expect_error]


def _short(values: np.ndarray) -> str:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    text = np.array2string(flat[:4], precision=6, separator=", ")
    return text if flat.size <= 4 else text[:-1] + ", ...]"
