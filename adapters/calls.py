"""What passes between the suite and an adapter: one BCE ``Call`` (framework-neutral,
arrays already in their dtypes), the ``Outcome`` the framework gave, and a call
``Prepared`` to run and to time; with the names of forms, reductions, dtypes and devices.

Constraints: this module imports NumPy (and ml_dtypes, for bfloat16 results) only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Form = Literal["probs", "logits"]
Reduction = Literal["none", "mean", "sum", "weighted_mean"]
FORMS: tuple[Form, ...] = ("probs", "logits")
REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")
"""The reductions every BCE API has (an adapter's default)."""
ALL_REDUCTIONS: tuple[Reduction, ...] = (*REDUCTIONS, "weighted_mean")
"""With ``weighted_mean``: the sum of the weighted losses over the sum of the weights
(Keras's ``"mean_with_sample_weight"``, ``keras.metrics.BinaryCrossentropy``)."""
DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
TARGET_DTYPES: tuple[str, ...] = ("bool", "int32", "int64", *DTYPES)
"""What a case may give its target in (``target_dtype``) besides the input's dtype."""
DEVICES: tuple[str, ...] = ("cpu", "gpu")
SHAPE_RULES: tuple[str | None, ...] = (None, "equal", "broadcast", "trailing-one")
"""What an API may declare about a target of another shape (``Adapter.shape_rule``)."""
ClipGradient = Literal["inclusive", "minmax"]
Wrt = Literal["input", "target"]


def in_result_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    """A framework's result, already converted to float64, back in the dtype the framework
    returned it in (``dtype``: float16, bfloat16, float32 or float64; exact, as every value
    came from that dtype), so the suite can record the result dtype. Other dtypes stay
    float64."""
    if dtype == "bfloat16":
        import ml_dtypes

        return values.astype(ml_dtypes.bfloat16)
    if dtype in ("float16", "float32", "float64"):
        return values.astype(dtype)
    return values


@dataclass(frozen=True)
class Call:
    """One BCE invocation. Arrays are already rounded to ``dtype`` (ml_dtypes for bfloat16)."""

    form: Form
    input: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    pos_weight: np.ndarray | None
    reduction: Reduction
    dtype: str
    device: str
    grad: bool = False
    """Also return the gradient of the loss (of the sum of the losses, for reduction none)
    with respect to ``wrt``."""
    wrt: Wrt = "input"
    """What ``grad`` differentiates with respect to: the input, or the target (soft labels
    and distillation train through it)."""
    order: int = 1
    """With ``grad`` and ``wrt`` "input": 1, the gradient; 2, the second derivative of each
    element's loss with respect to its own input (the Hessian's diagonal: BCE is a sum of
    per-element terms, so the Hessian of the sum, or mean, is diagonal)."""
    label_smoothing: float = 0.0
    """Targets squeezed towards 0.5 before the loss: y (1 - s) + s / 2 (Keras)."""
    axis: int | None = None
    """The element losses are averaged over this axis before the reduction (Keras's
    ``axis``), so ``none`` returns one loss per sample; None: one loss per element."""
    sample_weight: np.ndarray | None = None
    """One weight per sample (per loss left after ``axis``), aligned with the leading axes:
    its shape is a prefix of the per-sample shape (axes of 1 beyond it allowed), each entry
    weighing every loss under it."""

    @property
    def target_dtype(self) -> str:
        """The target's dtype: ``dtype`` unless the case gives it another (``target_dtype``)."""
        return str(self.target.dtype)  # ml_dtypes' bfloat16 is "bfloat16" too

    @property
    def mixed_dtypes(self) -> bool:
        """The target comes in another dtype than the input."""
        return self.target_dtype != self.dtype

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of the unreduced loss: the input's, less ``axis``."""
        shape = self.input.shape
        if self.axis is None:
            return shape
        axis = self.axis % len(shape)
        return shape[:axis] + shape[axis + 1 :]

    def sample_weight_full(self) -> np.ndarray | None:
        """``sample_weight`` broadcast to ``sample_shape`` (leading axes aligned)."""
        if self.sample_weight is None:
            return None
        return leading_broadcast(self.sample_weight, self.sample_shape)


def leading_broadcast(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` broadcast to ``shape`` with its axes aligned to the leading ones (a weight of
    shape (N,) over losses of shape (N, M)), where NumPy would align the trailing ones; its
    axes beyond ``shape``'s, of size 1, dropped (a weight of shape (N, 1) over (N,))."""
    kept = array.reshape(array.shape[: len(shape)])
    expanded = kept.reshape(kept.shape + (1,) * (len(shape) - kept.ndim))
    return np.broadcast_to(expanded, shape)


@dataclass(frozen=True)
class Outcome:
    """What the framework returned (as float64) or raised."""

    value: np.ndarray | None = None
    grad: np.ndarray | None = None
    error: str | None = None
    """What the framework raised: a result (an expected error, or the verdict ``error``)."""
    malformed: str | None = None
    """What came back when it was not a usable value (``None``, a string, a wrong shape),
    and what was expected; see ``adapters/validation.py``."""
    compile_seconds: float = 0.0
    """Time a compiled adapter spent compiling for this call, kept out of check time."""
    value_dtype: str | None = None
    """The dtype the framework returned the loss in (None: not known)."""
    grad_dtype: str | None = None

    @classmethod
    def raised(cls, exc: BaseException) -> Outcome:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return cls(error=f"{type(exc).__name__}: {first_line}"[:500])


@dataclass(frozen=True)
class Prepared:
    """A call made ready to run: inputs already framework tensors on the device, loss
    objects built. ``execute`` is what a benchmark times; ``results`` converts what it
    returned to NumPy, outside any timing. A check runs ``results(execute())``, so checks
    and benchmarks run the very same code."""

    execute: Callable[[], Any]
    """The framework's BCE (and its backward, for a gradient call) plus the
    synchronisation its results need (CUDA, XLA's asynchronous dispatch)."""
    results: Callable[[Any], Any]
    """What ``execute`` returned, as the check reads it: the loss, or (loss, gradient), as
    arrays NumPy can convert (a loss-only adapter returns the loss alone)."""
    converts_inputs: bool = False
    """True when ``execute`` also converts its inputs (a function given NumPy arrays that
    converts them itself): its timings then include that conversion, and say so."""

    @classmethod
    def direct(cls, execute: Callable[[], Any], *, converts_inputs: bool = False) -> Prepared:
        """A call with nothing to convert outside ``execute`` (an API that takes the NumPy
        arrays as they are): ``execute`` computes and returns the result itself."""
        return cls(execute=execute, results=_unchanged, converts_inputs=converts_inputs)


def _unchanged(done: Any) -> Any:
    return done
