"""The common interface every BCE adapter implements.

One ``Call`` is a framework-neutral BCE invocation; an adapter turns it into the real
framework call and returns an ``Outcome`` (float64 NumPy values, or the error the
framework raised). Adapters declare the documented ways their framework departs from
the mathematics as ``Conventions``, so the verdict engine can tell a documented
convention from a bug.

The call's data (``Call``, ``Outcome``, ``Prepared``) is in ``adapters/calls.py`` and is
imported here too, so an adapter author needs one import: ``from adapters.base import
Adapter, Call, Conventions``.

Constraints: this module imports NumPy and this package's standard-library-only helpers.
Frameworks are imported inside adapter methods, never at import time, so a missing or
broken framework makes its adapters unavailable (with the reason) instead of breaking the
suite.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import Any

from adapters.calls import (
    DTYPES,
    REDUCTIONS,
    Call,
    ClipGradient,
    Outcome,
    Prepared,
)
from adapters.timing import warm_and_measure
from adapters.validation import outcome_from_return

__all__ = ["Adapter", "Call", "Conventions", "Outcome", "Prepared"]
"""The adapter interface: what an adapter author imports from here."""


@functools.cache
def _installed_version(distributions: tuple[str, ...]) -> str:
    """The version of the first of ``distributions`` installed ("" for none); read once per
    process: the registry asks for it for every check it names."""
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


@dataclass(frozen=True)
class Conventions:
    """Documented departures from the mathematical BCE, each with its source.

    The reference can evaluate the mathematics with these applied; a value that matches
    only that way gets the verdict ``convention``.
    """

    log_floor: float | None = None
    """Each log term is clamped below at this value (PyTorch BCELoss: -100)."""
    prob_clip: float | None = None
    """Probabilities are clipped to [eps, 1 - eps], the bounds rounded to the dtype (Keras)."""
    clip_gradient: ClipGradient = "inclusive"
    """How the clip passes the gradient. ``inclusive`` (tf.clip_by_value, torch.clamp): all
    of it on [lo, hi], none outside or at NaN. ``minmax`` (jnp.clip, a minimum of a maximum):
    half of it at either bound, where JAX splits a tie between max's arguments, and NaN at
    a NaN input."""
    logits_through_probabilities: bool = False
    """From logits, p = sigmoid(x) rounded to the dtype, then the probability formula with
    these conventions (the Keras numpy backend)."""
    complement_in_dtype: bool = False
    """log(1 - p) is evaluated on 1 - p rounded to the input dtype, not as log1p(-p)."""
    smoothed_target_in_dtype: bool = False
    """With label smoothing, the smoothed target y (1 - s) + s / 2 is computed in the input
    dtype (each operation rounded) before the loss sees it, as Keras's formula is written."""
    flush_subnormals: bool = False
    """Subnormal inputs read as zero and subnormal results are flushed to zero (FTZ/DAZ),
    subnormal in the float32 the CPU computes half precision in (see the reference)."""
    grad_denominator_floor: float | None = None
    """The probability gradient is (p - y) / max((1 - p) p, floor) (PyTorch: 1e-12)."""
    checks_probability_range: bool = False
    """Raises on probabilities outside [0, 1]; if False such inputs compute through the formula."""
    checks_target_range: bool = False
    """Raises on targets outside [0, 1]."""
    documented_domain: str = ""
    """Where the API's documentation states its valid inputs (probabilities in [0, 1],
    targets in [0, 1]): an API that states them and returns a value for an input outside
    them, without raising, gets the verdict ``accepts_invalid`` with this link. Empty: the
    API states no domain and computes through by design (the suite's own formulas)."""
    sources: tuple[str, ...] = ()
    """Where each convention is stated: file and line of the framework source, or its docs."""

    def names(self) -> list[str]:
        """Short names of the conventions in force, as the report shows them."""
        out = []
        if self.log_floor is not None:
            out.append(f"log-floor({self.log_floor:g})")
        if self.logits_through_probabilities:
            out.append("logits-through-sigmoid")
        if self.prob_clip is not None:
            out.append(f"prob-clip({self.prob_clip:g})")
            if self.clip_gradient != "inclusive":
                out.append(f"clip-gradient({self.clip_gradient})")
        if self.complement_in_dtype:
            out.append("complement-in-dtype")
        if self.smoothed_target_in_dtype:
            out.append("smoothed-target-in-dtype")
        if self.flush_subnormals:
            out.append("flush-subnormals")
        if self.grad_denominator_floor is not None:
            out.append(f"grad-denominator-floor({self.grad_denominator_floor:g})")
        return out

    def alters_values(self) -> bool:
        return bool(self.names())


class Adapter:
    """Base class: one public BCE API of one framework.

    A subclass sets the class attributes (what the API takes: forms, weights, reductions,
    options, gradients) and implements ``prepare``; where the framework knows devices, also
    ``devices``. ``unsupported`` says, with a reason, which calls the API cannot express (an
    option it lacks), so nothing is emulated silently. An adapter promises only what it
    declares (``result_dtype``, ``formula_declared``, the range checks and domain of its
    ``conventions``): no other rule can fail its checks. The smallest complete adapter::

        class MyBCE(Adapter):
            name = "mylib.bce"
            framework = "mylib"  # probed with importlib.util.find_spec, imported late
            forms = frozenset({"probs"})
            supports_weight = False
            api = "mylib.bce(p, y)"

            def prepare(self, call: Call) -> Prepared:
                import mylib

                return Prepared.direct(lambda: mylib.bce(call.input, call.target))
    """

    name: str = ""
    framework: str = ""
    """Import name of the framework, probed with importlib.util.find_spec (no import)."""
    distribution: tuple[str, ...] = ()
    """Distributions that provide the framework, first installed one is reported."""
    forms: frozenset[str] = frozenset()
    conventions: Conventions = Conventions()
    supports_weight: bool = True
    supports_pos_weight: bool = False
    supports_grad: bool = False
    """The prepared call returns (loss, d loss / d input) when ``call.grad`` is set."""
    supports_target_grad: bool = False
    """The prepared call returns (loss, d loss / d target) when ``call.grad`` is set and
    ``call.wrt`` is "target"."""
    reductions: frozenset[str] = frozenset(REDUCTIONS)
    target_dtypes: frozenset[str] = frozenset()
    """Dtypes besides the input's the API takes its target in, as its documentation or
    source states (Keras casts y_true to y_pred's dtype; NumPy and JAX promote); for any
    other the call is a ``skip``. A call that mixes dtypes is judged on its value; the
    result-dtype promise (``result_dtype``) is about operands of one dtype and is not
    applied to it."""
    supports_second_grad: bool = False
    """The prepared call returns (loss, d2 loss / d input2) when ``call.order`` is 2 (double
    backward)."""
    supports_label_smoothing: bool = False
    """The API takes ``label_smoothing`` (``Call.label_smoothing``)."""
    supports_axis: bool = False
    """The API averages the element losses over an ``axis`` of the caller's choice."""
    supports_sample_weight: bool = False
    """The API takes a per-sample ``sample_weight`` (``Call.sample_weight``)."""
    api: str = ""
    """The exact call a user writes, shown in reports."""
    extended: bool = False
    """Run only in the full profile (slow to start: compiled modes, worker-process backends)."""
    result_dtype: str | None = None
    """The API's promise about its result's dtype, a rule that can fail a check only when it
    is declared: "input" (the loss and its gradients have the input's dtype; a float64
    result for float32 input fails), or None (no promise: the dtype is reported, not
    judged). The built-in framework adapters declare "input" with ``result_dtype_source``."""
    result_dtype_source: str = ""
    """The documentation or source that states ``result_dtype``, cited by the verdict."""
    shape_rule: str | None = None  # one of SHAPE_RULES
    """What the API does with a target whose shape differs from the input's, a rule that can
    fail a check only when declared: "equal" (it raises unless the shapes are equal),
    "broadcast" (NumPy broadcasting: it computes through shapes that broadcast, raises on
    others), "trailing-one" (Keras losses: a trailing size-1 axis on one side is squeezed
    or added, then the shapes must be equal), or None (no promise: what it returns is
    reported, not judged)."""
    shape_rule_source: str = ""
    """The documentation or source that states ``shape_rule``, cited by the verdict."""
    formula_declared: bool = False
    """Whether ``conventions`` describe everything the API computes, so that a value on
    invalid input can be held to that formula. The built-in adapters declare it; an adapter
    that does not (a user's class or function, by default) gets no value on invalid input
    judged: the suite does not know its formula."""

    @property
    def same_code_as(self) -> str:
        """The adapter whose code this one runs in another mode (traced or compiled; see
        ``adapters/compiled.py``), so the two are compared check by check; "" for none."""
        return ""

    @property
    def contract(self) -> Conventions:
        """The conventions whose promises (range checks) this adapter is held to: its own;
        for a compiled mode, its eager API's (see ``adapters/compiled.py``)."""
        return self.conventions

    def available(self) -> str | None:
        """None if the adapter can run here, else why not (checked without importing)."""
        missing = []
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a parent package that is missing or broken
                found = False
            if not found:
                missing.append(module)
        if missing:
            install = f": pip install 'bce-conformance[{self.extra}]'" if self.extra else ""
            return f"{', '.join(missing)} not installed{install}"
        return None

    @property
    def requires(self) -> tuple[str, ...]:
        """Modules the adapter imports."""
        return (self.framework,) if self.framework else ()

    @property
    def extra(self) -> str:
        """The pyproject extra that installs this adapter's framework ("" for none)."""
        return {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}.get(
            self.framework, "all"
        )

    def version(self) -> str:
        """Version of the framework distribution, read from metadata (no import)."""
        return _installed_version(tuple(self.distribution))

    def devices(self) -> list[str]:
        """Devices this adapter can run on here; imports the framework."""
        return ["cpu"]

    def device_unavailable(self, device: str) -> str | None:
        """Why ``device`` cannot run here, or None."""
        if device in self.devices():
            return None
        return f"no {device} device visible to {self.framework or self.name}"

    def dtypes(self) -> list[str]:
        return list(DTYPES)

    def unsupported(self, call: Call) -> str | None:
        """Why this API cannot express ``call``, or None."""
        if call.form not in self.forms:
            return f"{self.api} takes {'/'.join(sorted(self.forms))}, not {call.form}"
        if call.dtype not in self.dtypes():
            return f"{self.name} is not run at {call.dtype}"
        if call.weight is not None and not self.supports_weight:
            return f"{self.api} has no per-element weight argument"
        if call.pos_weight is not None and not self.supports_pos_weight:
            return f"{self.api} has no pos_weight argument"
        if call.reduction not in self.reductions:
            return f"{self.api} has no reduction={call.reduction!r}"
        if call.label_smoothing and not self.supports_label_smoothing:
            return f"{self.api} has no label_smoothing argument"
        if call.axis is not None and not self.supports_axis:
            return f"{self.api} has no axis argument (it returns one loss per element)"
        if call.sample_weight is not None and not self.supports_sample_weight:
            return f"{self.api} has no per-sample sample_weight argument"
        if call.grad and call.wrt == "input" and not self.supports_grad:
            return f"{self.name} implements no gradient (supports_grad is False)"
        if call.grad and call.wrt == "target" and not self.supports_target_grad:
            return f"{self.name} implements no gradient with respect to the target"
        if call.mixed_dtypes and call.target_dtype not in self.target_dtypes:
            return f"{self.api} takes its target in the input's dtype, not {call.target_dtype}"
        if call.grad and call.wrt == "target" and call.mixed_dtypes:
            return (
                f"the gradient with respect to a {call.target_dtype} target comes in its "
                f"dtype, not the input's {call.dtype}: not compared"
            )
        if call.grad and call.order == 2 and not self.supports_second_grad:
            return f"{self.name} implements no second derivative (double backward)"
        return None

    def run(self, call: Call) -> Outcome:
        """Run ``call``; any framework exception becomes an Outcome with ``error``, and a
        return value that is not a loss (and gradient) of the right shape one with
        ``malformed``."""
        try:
            result = self._run(call)
        except Exception as exc:  # the framework's own error is a result, not a crash
            return Outcome.raised(exc)
        return outcome_from_return(result, call)

    def reproducer(self, call: Call) -> str | None:
        """Python that makes ``call`` with the framework's own API, for an upstream bug
        report (the contract is in ``adapters/snippets.py``), or None when the adapter
        cannot write one."""
        return None

    def release(self) -> None:
        """Free what the adapter holds between calls (helper processes). The runner calls it
        once it has no more checks for the adapter's framework; a later call starts afresh."""

    def prepare(self, call: Call) -> Prepared:
        """The one method an adapter implements: ``call`` made ready to run and to time,
        inputs converted and loss objects built here, the BCE itself in ``execute``
        (``Prepared.direct(lambda: ...)`` for an API that takes the NumPy arrays as they
        are). Checks run ``results(execute())``; benchmarks time ``execute``."""
        raise NotImplementedError(
            f"{type(self).__name__} implements no prepare(call) -> Prepared "
            "(see adapters/base.py: Adapter)"
        )

    def time(self, call: Call) -> tuple[Any, float, bool]:
        """(Timing, warm-up seconds, whether conversion is inside the timing) of ``call``:
        ``prepare``, then the suite's timing core (``adapters/timing.py``) on
        ``execute`` alone, its first call timed apart."""
        prepared = self.prepare(call)
        return (*warm_and_measure(prepared.execute), prepared.converts_inputs)

    def _run(self, call: Call) -> Any:
        """The loss, or with ``call.grad`` the pair (loss, gradient): ``prepare``'s
        ``execute``, then its ``results`` (an adapter that runs elsewhere, in a helper
        process, overrides this)."""
        prepared = self.prepare(call)
        return prepared.results(prepared.execute())
