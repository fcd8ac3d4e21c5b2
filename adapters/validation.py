"""Check what an adapter returned before anything judges it.

An adapter's ``_run`` returns the loss, or with ``call.grad`` the pair (loss, gradient), as
anything NumPy can read. Third-party code returns all sorts of things: ``None``, a string,
an object, a tuple of the wrong length, an array of the wrong shape or of complex numbers.
Each becomes an ``Outcome`` whose ``malformed`` says what came back and what was expected,
which the verdict engine reports as an ``error``; only well-formed values reach the
comparison, as float64 arrays of the shape the call asks for. A gradient call is judged
on its gradient: a malformed loss there leaves ``value`` None (its value check says why).

Framework tensors are read as they are: a PyTorch tensor is detached and copied to the
host (one that requires grad, or lives on a GPU, cannot be read by NumPy directly), a
TensorFlow or JAX array through NumPy's array protocol; the dtype recorded is the
tensor's own (``torch.bfloat16`` is "bfloat16").
"""

from __future__ import annotations

import contextlib
from typing import Any

import ml_dtypes
import numpy as np

from adapters.calls import Call, Outcome

_ML_FLOATS = {np.dtype(ml_dtypes.bfloat16), np.dtype(ml_dtypes.float8_e4m3fn)}
_REPR_LIMIT = 80


def loss_shapes(call: Call) -> tuple[tuple[int, ...], ...]:
    """The shapes the loss may have: () when reduced; for ``none`` with an ``axis``, the
    samples'; for ``none`` otherwise the elements' (input and
    target broadcast), and where the two shapes differ (a shape-mismatch case an API may
    compute through) also the input's or the target's, by the API's own shape rule."""
    if call.reduction != "none":
        return ((),)
    if call.axis is not None:  # one loss per sample; a sample weight's trailing axes of 1
        # (a column (N, 1) over N losses) may stay on it, as in Keras: the same values
        extra = (
            0 if call.sample_weight is None else call.sample_weight.ndim - len(call.sample_shape)
        )
        return tuple(dict.fromkeys((call.sample_shape, call.sample_shape + (1,) * max(extra, 0))))
    shapes = [call.input.shape, call.target.shape]
    with contextlib.suppress(ValueError):  # shapes that do not broadcast: one side's
        shapes.insert(0, np.broadcast_shapes(call.input.shape, call.target.shape))
    return tuple(dict.fromkeys(shapes))


def outcome_from_return(result: Any, call: Call) -> Outcome:
    """The Outcome for what ``_run`` returned: float64 arrays, or ``malformed``."""
    if isinstance(result, tuple):
        if len(result) != 2:
            return Outcome(
                malformed=f"a tuple of {len(result)} items; expected the loss, or the pair "
                "(loss, gradient)"
            )
        value, grad = result
    elif call.grad:
        return Outcome(
            malformed=f"{_describe(result)} alone; with grad=True expected the pair "
            f"(loss, gradient of shape {call.input.shape})"
        )
    else:
        value, grad = result, None
    shapes = loss_shapes(call)
    shown = " or ".join(str(shape) for shape in shapes)
    loss_wanted = f"the loss of shape {shown} (reduction={call.reduction!r})"
    value_array, problem = _as_float64(value, shapes, loss_wanted)
    if value_array is not None and call.axis is not None and call.reduction == "none":
        value_array = value_array.reshape(call.sample_shape)  # trailing axes of 1 dropped
    value_dtype = _dtype_name(value)
    if not call.grad:
        if problem:
            return Outcome(malformed=problem)
        return Outcome(value=value_array, value_dtype=value_dtype)
    # a gradient check judges the gradient; the loss has a check of its own
    if grad is None:
        return Outcome(
            malformed=f"(loss, None); expected a gradient of shape {call.input.shape} "
            "(an adapter without gradients leaves supports_grad False)"
        )
    wrt = call.target if call.wrt == "target" else call.input
    grad_wanted = f"the gradient with respect to the {call.wrt}, of shape {wrt.shape}"
    grad_array, problem = _as_float64(grad, (wrt.shape,), grad_wanted)
    if problem:
        return Outcome(malformed=problem)
    return Outcome(
        value=value_array, grad=grad_array, value_dtype=value_dtype, grad_dtype=_dtype_name(grad)
    )


def _dtype_name(value: Any) -> str | None:
    """The dtype a returned array has (a Python float: None, it has none), by its NumPy
    name: ``torch.float32`` and ``tf.float32`` are "float32"."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None
    try:
        return str(np.dtype(dtype).name)
    except TypeError:  # a framework's own dtype object
        return str(getattr(dtype, "name", dtype)).removeprefix("torch.")


def _host_values(value: Any) -> Any:
    """A PyTorch tensor as a NumPy array (detached, on the host; bfloat16 via float32,
    exactly); anything else unchanged."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        tensor = value.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # NumPy has no bfloat16 of torch's
            tensor = tensor.float()
        return tensor.numpy()
    return value


def _as_float64(
    value: Any, shapes: tuple[tuple[int, ...], ...], expected: str
) -> tuple[np.ndarray | None, str | None]:
    """(float64 array, None), or (None, what is wrong with ``value``)."""
    if value is None:
        return None, f"None; expected {expected}"
    if isinstance(value, str | bytes):
        return None, f"{_describe(value)}; expected {expected}"
    try:
        array = np.asarray(_host_values(value))
    except Exception as exc:  # ragged lists, objects whose __array__ raises
        reason = f"{type(exc).__name__}: {str(exc)[:_REPR_LIMIT]}"
        return None, f"{_describe(value)}, which NumPy cannot read ({reason}); expected {expected}"
    if not (array.dtype.kind in "iuf" or array.dtype in _ML_FLOATS):
        kind = "complex" if array.dtype.kind == "c" else "non-numeric"
        return None, f"{_describe(value)} with {kind} dtype {array.dtype}; expected {expected}"
    if array.shape not in shapes:
        return None, f"an array of shape {array.shape}; expected {expected}"
    return array.astype(np.float64), None


def _describe(value: Any) -> str:
    """A short, safe description of a returned object: its type and a clipped repr."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ is no reason to lose the verdict
        text = "<repr failed>"
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    return f"{type(value).__name__} {text}"
