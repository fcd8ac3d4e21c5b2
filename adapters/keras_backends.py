"""Keras 3 ``keras.ops.binary_crossentropy`` on each of its backends: jax, torch,
tensorflow and numpy, from probabilities and from logits.

Keras chooses its backend once per process (``KERAS_BACKEND``, read at import), so each
backend runs in a helper process of its own (a served process, ``adapters/served.py``, the
protocol of the suite's check workers too), started on first use and fed calls over a
pipe; the results join the same report as every other adapter. ``keras.ops`` returns
element losses: the mean or sum is ``keras.ops.mean``/``keras.ops.sum``, as users write,
and it has no weight argument. Gradients use the backend's own autodiff (``jax.grad``,
torch autograd, ``tf.GradientTape``); the numpy backend has none, so its gradient checks
are skipped. The workers run on the CPU.

Conventions, from ``keras/src/backend/<backend>/nn.py`` (``binary_crossentropy``):
- every backend clips probabilities to [epsilon, 1 - epsilon], epsilon = 1e-7: jax and
  numpy then take ``log(1 - output)`` on the rounded complement, tensorflow the same;
  torch calls its own BCE kernel on the clipped values (log1p, the -100 log floor and the
  backward's 1e-12 floor, as ``torch.nn.BCELoss``);
- the clip's gradient: ``tf.clip_by_value`` and ``torch.clip`` pass all of it on the closed
  range; ``jnp.clip`` is ``minimum(maximum(p, lo), hi)``, whose gradient JAX splits in half
  at a tie, so p exactly at a bound gets half, and a NaN p a NaN gradient;
- from logits: jax ``-y log_sigmoid(x) - (1 - y) log_sigmoid(-x)`` (optax's formula);
  torch ``binary_cross_entropy_with_logits``; tensorflow ``sigmoid_cross_entropy_with_logits``;
  numpy ``sigmoid(x)``, then the clipped probability formula;
- the jax and tensorflow backends run XLA/TensorFlow CPU kernels, which flush subnormals.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import ml_dtypes
import numpy as np

from adapters import formulas
from adapters.base import Adapter, Conventions
from adapters.calls import Call, Outcome, Prepared, in_result_dtype
from adapters.jax_bce import MEMORY
from adapters.served import ServedProcess, ServedProcessError
from adapters.snippets import reduced
from adapters.timing import warm_and_measure
from adapters.torch_bce import LOGITS_CONVENTIONS, PROBS_CONVENTIONS

_NN = "https://github.com/keras-team/keras/blob/master/keras/src/backend/{}/nn.py"
BACKENDS = ("jax", "torch", "tensorflow", "numpy")
_FLUSHES = {"jax", "tensorflow"}
_EPSILON = 1e-7  # keras.config.epsilon()


class RemoteError(RuntimeError):
    """An exception raised in a backend worker, carried back as its type and message."""


def _conventions(backend: str, from_logits: bool) -> Conventions:
    source = f"{_NN.format(backend)} binary_crossentropy"
    domain = (
        "https://keras.io/api/ops/nn/#binarycrossentropy-function (target: 'the true binary "
        "labels'; output: 'the predicted probabilities or logits')"
    )
    if backend == "torch":
        base = LOGITS_CONVENTIONS if from_logits else PROBS_CONVENTIONS
        return replace(
            base,
            prob_clip=None if from_logits else _EPSILON,
            checks_probability_range=False,  # the clip brings every p into [0, 1] first
            documented_domain=domain,
            sources=(source, *base.sources),
        )
    flush = backend in _FLUSHES
    if from_logits and backend != "numpy":
        return Conventions(flush_subnormals=flush, documented_domain=domain, sources=(source,))
    return Conventions(
        prob_clip=_EPSILON,
        clip_gradient="minmax" if backend == "jax" else "inclusive",
        complement_in_dtype=True,
        flush_subnormals=flush,
        logits_through_probabilities=from_logits,
        documented_domain=domain,
        sources=(source,),
    )


class KerasOpsBinaryCrossentropy(Adapter):
    result_dtype = "input"
    formula_declared = True  # its conventions, with their sources, are its formula
    shape_rule = "equal"
    shape_rule_source = (
        "https://github.com/keras-team/keras/blob/master/keras/src/backend/numpy/nn.py "
        "binary_crossentropy (and the jax, torch and tensorflow backends'): 'Arguments "
        "`target` and `output` must have the same shape'"
    )
    result_dtype_source = (
        "https://keras.io/api/ops/core/#converttotensor-function (tensors are made with "
        "dtype= the input's; keras.ops keeps an operation's floating dtype)"
    )
    distribution = ("keras",)
    extended = True
    supports_weight = False

    def __init__(self, backend: str, from_logits: bool) -> None:
        self.backend, self.from_logits = backend, from_logits
        self.framework = f"keras[{backend}]"  # one worker group per backend
        self.name = "keras.ops.binary_crossentropy" + (
            f".from_logits@{backend}" if from_logits else f"@{backend}"
        )
        self.forms = frozenset({"logits" if from_logits else "probs"})
        self.supports_grad = backend != "numpy"
        self.conventions = _conventions(backend, from_logits)
        self.api = (
            f"KERAS_BACKEND={backend}: keras.ops.mean(keras.ops.binary_crossentropy("
            f"y, {'x' if from_logits else 'p'}, from_logits={from_logits}))"
        )

    @property
    def requires(self) -> tuple[str, ...]:
        return ("keras", self.backend)  # each backend is the module of its name

    def device_unavailable(self, device: str) -> str | None:
        if device != "cpu":
            return "keras.ops backend workers run on the CPU in this suite"
        return None

    def release(self) -> None:
        helper = _HELPERS.pop(self.backend, None)
        if helper is not None:
            helper.stop()

    def reproducer(self, call: Call) -> str | None:
        lines = ["import os", "", f'os.environ["KERAS_BACKEND"] = "{self.backend}"']
        if self.backend == "jax":
            lines.append('os.environ["JAX_ENABLE_X64"] = "1"  # float64 arrays; dtypes explicit')
        lines += ["import keras", "", "ops = keras.ops", ""]
        if call.dtype == "bfloat16":  # torch cannot read ml_dtypes' bfloat16: via float32
            convert = 'ops.cast(ops.convert_to_tensor(a.astype(np.float32)), "bfloat16")'
        else:
            convert = f'ops.convert_to_tensor(a.astype(np.{call.dtype}), dtype="{call.dtype}")'
        loss = f"ops.binary_crossentropy(y_t, x_t, from_logits={self.from_logits})"
        lines += [
            f"def tensor(a):  # exact: every value is a {call.dtype}",
            f"    return {convert}",
            "",
            "y_t = tensor(y)",
            "",
            "def loss_of(x_t):",
            f"    return {reduced(loss, call.reduction, 'ops.mean', 'ops.sum')}",
            "",
            "x_t = tensor(x)",
            "loss_t = loss_of(x_t)",
        ]
        if call.grad:
            lines += _GRADIENT_SOURCE[self.backend]
            lines.append('grad = np.asarray(ops.convert_to_numpy(ops.cast(grad_t, "float64")))')
        lines.append('loss = np.asarray(ops.convert_to_numpy(ops.cast(loss_t, "float64")))')
        return "\n".join(lines)

    def _run(self, call: Call) -> Any:
        return self._ask("run", call)

    def prepare(self, call: Call) -> Prepared:
        """``call`` ready to run in this process, on this adapter's backend: Keras reads
        ``KERAS_BACKEND`` once, at import, so this imports it with the backend when it is
        not yet imported, and refuses when it was imported with another one (checks, which
        mix backends, run in the helpers instead)."""
        refusal = self.in_process_refusal()
        if refusal:
            raise RuntimeError(refusal)
        _configure_process(self.backend)
        import keras

        execute, results = _prepare(keras, self.backend, call, self.from_logits)
        return Prepared(execute=execute, results=results)

    def in_process_refusal(self) -> str | None:
        """Why this process cannot run Keras on this adapter's backend (None when it can)."""
        keras = sys.modules.get("keras")  # imported by TensorFlow too, on its own backend
        if keras is None:
            return None
        loaded = keras.backend.backend()
        if loaded != self.backend:
            return f"Keras is imported here with the {loaded} backend, not {self.backend}"
        return None

    def time(self, call: Call) -> tuple[Any, float, bool]:
        """Measured by the suite's timing core in this process when it can host the
        backend (a benchmark worker), else inside the backend's helper, which sends back
        its timing: the pipe round trip is never part of it."""
        if self.in_process_refusal() is None:
            return super().time(call)
        measured, warmup = self._ask("time", call)
        return measured, warmup, False

    def _ask(self, kind: str, call: Call) -> Any:
        message = (kind, call, self.from_logits)
        status, payload = _request(self.backend, message, HELPER_TIMEOUT_S)
        if status == "error":
            raise RemoteError(payload)
        return payload


HELPER_TIMEOUT_S = 600.0
"""How long one call may take in a helper before it is killed. A backstop for in-process
runs (``--isolation none``): under the supervisor each check has its own, shorter,
timeout, which kills the helper together with the worker that started it."""

_HELPERS: dict[str, ServedProcess] = {}
"""The live helper of each backend. A helper that did not answer in time, or died, is
killed and dropped: its late reply can never be read as the answer to another call, and the
next call starts a fresh helper."""


def _request(key: str, message: Any, timeout: float) -> tuple[str, Any]:
    """``message``'s reply from the helper ``key``, started on first use."""
    if key not in _HELPERS:
        _HELPERS[key] = ServedProcess(f"the Keras {key} helper", _BackendServer, (key,))
    helper = _HELPERS[key]
    try:
        reply: tuple[str, Any] = helper.request(message, timeout)
    except ServedProcessError as exc:
        del _HELPERS[key]
        raise RemoteError(f"{exc}; the next call starts a fresh one") from None
    return reply


def _configure_process(backend: str) -> None:
    """The environment Keras and its backend read at import, before the import."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ["JAX_ENABLE_X64"] = "1"  # float64 checks on the jax backend
    if "jax" in sys.modules:  # imported already: the variable above is read too late
        sys.modules["jax"].config.update("jax_enable_x64", True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _BackendServer:
    """The helper's handler (``adapters/served.py``): Keras imported on one backend; each
    message (kind, call, from_logits) is answered ("ok", result) or ("error", message)."""

    def __init__(self, backend: str) -> None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        _configure_process(backend)
        # log(0), 0 * inf and overflow are what the edge cases are about; verdicts report them
        np.seterr(all="ignore")
        warnings.simplefilter("ignore", RuntimeWarning)
        import keras

        self.keras, self.backend = keras, backend

    def __call__(self, message: tuple[str, Call, bool]) -> Iterator[tuple[str, Any]]:
        if self.backend == "jax":
            MEMORY.tick()
        kind, call, from_logits = message
        try:
            execute, results = _prepare(self.keras, self.backend, call, from_logits)
            if kind == "run":
                yield "ok", results(execute())
            else:
                yield "ok", warm_and_measure(execute)
        except Exception as exc:  # the backend's refusal is a result
            yield "error", Outcome.raised(exc).error


def _prepare(keras: Any, backend: str, call: Call, from_logits: bool) -> tuple[Any, Any]:
    """(execute, results): the loss (and gradient) on tensors made here, and the
    conversion of what execute returned to NumPy."""
    ops = keras.ops

    def tensor(array: np.ndarray) -> Any:
        # The dtype is explicit: without it Keras's type promotion turns float64 into
        # float32 on every backend but tensorflow (keras/src/backend/common/dtypes.py,
        # BIT64_TO_BIT32_DTYPE), so a float64 user must name it, as here.
        if array.dtype == ml_dtypes.bfloat16:  # torch cannot read ml_dtypes' bfloat16
            return ops.cast(ops.convert_to_tensor(array.astype(np.float32)), "bfloat16")
        return ops.convert_to_tensor(array, dtype=array.dtype.name)

    def to_numpy(value: Any) -> np.ndarray:
        values = np.asarray(ops.convert_to_numpy(ops.cast(value, "float64")))
        return in_result_dtype(values, keras.backend.standardize_dtype(value.dtype))

    target = tensor(call.target)

    def loss_of(x: Any) -> Any:
        loss = ops.binary_crossentropy(target, x, from_logits=from_logits)
        return formulas.reduce(loss, call.reduction, ops.mean, ops.sum)

    x = tensor(call.input)

    def execute() -> tuple[Any, Any]:
        value = loss_of(x)
        grad = _gradient(backend, ops, loss_of, x) if call.grad else None
        if backend == "jax":  # asynchronous dispatch: wait for the values
            import jax

            jax.block_until_ready((value, grad))
        return value, grad

    def results(done: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray | None]:
        value, grad = done
        return to_numpy(value), None if grad is None else to_numpy(grad)

    return execute, results


_GRADIENT_SOURCE = {  # _gradient below, as source for the reproducer
    "jax": ["import jax", "", "grad_t = jax.grad(lambda v: ops.sum(loss_of(v)))(x_t)"],
    "torch": [
        "x_t = x_t.detach().requires_grad_(True)",
        "ops.sum(loss_of(x_t)).backward()",
        "grad_t = x_t.grad",
    ],
    "tensorflow": [
        "import tensorflow as tf",
        "",
        "with tf.GradientTape() as tape:",
        "    tape.watch(x_t)",
        "    total = ops.sum(loss_of(x_t))",
        "grad_t = tape.gradient(total, x_t)",
    ],
}


def _gradient(backend: str, ops: Any, loss_of: Any, x: Any) -> Any:
    """d sum(loss) / dx with the backend's autodiff."""
    if backend == "jax":
        import jax

        return jax.grad(lambda v: ops.sum(loss_of(v)))(x)
    if backend == "torch":
        x = x.detach().requires_grad_(True)
        ops.sum(loss_of(x)).backward()
        return x.grad
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        total = ops.sum(loss_of(x))
    return tape.gradient(total, x)


ADAPTERS = tuple(
    KerasOpsBinaryCrossentropy(backend, from_logits)
    for backend in BACKENDS
    for from_logits in (False, True)
)
