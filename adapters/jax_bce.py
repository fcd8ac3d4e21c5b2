"""JAX adapters: ``optax.sigmoid_binary_cross_entropy`` and the textbook formula in
``jax.numpy``.

jax and optax are imported inside the methods. float64 needs
``jax.config.update("jax_enable_x64", True)``, set once when the first check runs (every
array the suite makes has an explicit dtype, so no other result changes).

Conventions, from the sources:
- optax (``optax/losses/_classification.py``): ``-y log_sigmoid(x) - (1 - y)
  log_sigmoid(-x)``, element losses only; the mean or sum is ``jnp.mean``/``jnp.sum``, the
  step users write; no weight or pos_weight argument.
- XLA's CPU backend flushes denormals to zero (``xla/stream_executor/host/host_stream.cc``
  runs its work under ``tsl::port::ScopedFlushDenormal``, like TensorFlow's thread pools).
- ``jax.numpy`` textbook: ``adapters/formulas.py``, so ``log(1 - p)`` on a rounded
  ``1 - p``; no range check.
- Gradients come from ``jax.grad`` (of the sum, for unreduced losses).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from adapters import formulas
from adapters.base import Adapter, Conventions
from adapters.calls import TARGET_DTYPES, Call, Prepared
from adapters.compiled import CompiledMixin
from adapters.snippets import reduced

_OPTAX_SRC = (
    "https://github.com/google-deepmind/optax/blob/main/optax/losses/_classification.py "
    "sigmoid_binary_cross_entropy"
)
XLA_FTZ = (
    "https://github.com/openxla/xla/blob/main/xla/stream_executor/host/host_stream.cc "
    "WorkLoop: tsl::port::ScopedFlushDenormal"
)


def import_jax() -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def resident_mib() -> float:
    """This process's resident memory now, in MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class JaxMemoryBound:
    """Eager JAX compiles each op for every new shape and dtype and keeps the executables
    (about 0.5 MiB a check). Keeping them is what makes a run fast: a dropped executable is
    compiled again on the next check of that shape. So the caches are kept until this
    process's resident memory passes ``budget_mib``; only then are they dropped and the
    freed heap returned to the system (``malloc_trim``: glibc keeps it otherwise).
    ``generation`` counts the drops, so compiled adapters know to warm up again. Memory is
    read every ``every`` calls (a /proc read). The default budget, 6 GiB a process, keeps
    two workers and their helpers within half of a 24 GiB machine."""

    def __init__(self, budget_mib: float = 6144.0, every: int = 100) -> None:
        self.budget_mib, self.every = budget_mib, every
        self.calls, self.generation = 0, 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls % self.every or resident_mib() < self.budget_mib:
            return
        import_jax().clear_caches()
        self.generation += 1
        with contextlib.suppress(OSError, AttributeError):  # not glibc: the caches still go
            ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


MEMORY = JaxMemoryBound()


class JaxAdapter(Adapter):
    result_dtype = "input"
    formula_declared = True  # its conventions, with their sources, are its formula
    shape_rule = "broadcast"
    shape_rule_source = (
        "https://github.com/google-deepmind/optax/blob/main/optax/losses/_classification.py "
        "sigmoid_binary_cross_entropy ('Be particularly careful if you're relying on "
        "implicit broadcasting to reshape `logits` or `labels`'); jax.numpy broadcasts as "
        "NumPy does"
    )
    result_dtype_source = (
        "https://docs.jax.dev/en/latest/type_promotion.html (operands of one dtype give "
        "that dtype; float64 enabled with jax_enable_x64)"
    )
    framework = "jax"
    distribution = ("jax",)
    supports_grad = True
    supports_target_grad = True
    target_dtypes = frozenset({"bool", "int32", "int64"})
    """Whole-number labels are exact in every float, and jax.numpy promotes them to the
    input's dtype (docs.jax.dev type_promotion); a float target of another dtype would
    have a formula of this suite compute 1 - y in that dtype."""

    def devices(self) -> list[str]:
        jax = import_jax()
        try:
            jax.devices("gpu")
        except RuntimeError:
            return ["cpu"]
        return ["cpu", "gpu"]

    def device_unavailable(self, device: str) -> str | None:
        if device == "gpu" and "gpu" not in self.devices():
            return 'jax.devices("gpu") raises: no GPU backend'
        return None

    def prepare(self, call: Call) -> Prepared:
        MEMORY.tick()
        jax = import_jax()
        import jax.numpy as jnp

        device = jax.devices("gpu" if call.device == "gpu" else "cpu")[0]

        def put(array: np.ndarray | None) -> Any:
            return None if array is None else jax.device_put(jnp.asarray(array), device)

        args = (put(call.input), put(call.target), put(call.weight))
        function = self._function(call.reduction, call.grad, call.wrt, call.order)

        def execute() -> Any:  # JAX dispatches asynchronously: wait for the values
            return jax.block_until_ready(function(*args))

        def results(done: Any) -> tuple[np.ndarray, np.ndarray | None]:
            value, grad = done
            return np.asarray(value), None if grad is None else np.asarray(grad)

        return Prepared(execute, results)

    def _function(self, reduction: str, grad: bool, wrt: str, order: int = 1) -> Any:
        """(x, y, w) -> (loss, d sum(loss) / dx (or / dy, for ``wrt`` "target"; for
        ``order`` 2 the second derivative, the Hessian's diagonal) or None). One jax.vjp
        gives both from a single trace: eager jax.grad traces on every call (the JAX row
        of the time breakdown ``bce-conformance run --adapters "optax*"`` prints)."""
        jax = import_jax()
        import jax.numpy as jnp

        def loss_fn(x: Any, y: Any, w: Any) -> Any:
            loss = formulas.weighted(self._elementwise(x, y), w)
            return formulas.reduce(loss, reduction, jnp.mean, jnp.sum)

        def first_derivative(v: Any, y: Any, w: Any) -> Any:
            value, pullback = jax.vjp(lambda u: loss_fn(u, y, w), v)
            return pullback(jnp.ones_like(value))[0]

        def value_and_grad(x: Any, y: Any, w: Any) -> tuple[Any, Any]:
            if not grad:
                return loss_fn(x, y, w), None
            if order == 2:  # the Hessian is diagonal: d(sum of the gradient)/dx is its diagonal
                _, pullback = jax.vjp(lambda v: first_derivative(v, y, w), x)
                return loss_fn(x, y, w), pullback(jnp.ones_like(x))[0]
            if wrt == "target":
                value, pullback = jax.vjp(lambda v: loss_fn(x, v, w), y)
            else:
                value, pullback = jax.vjp(lambda v: loss_fn(v, y, w), x)
            return value, pullback(jnp.ones_like(value))[0]

        return value_and_grad

    def _elementwise(self, x: Any, y: Any) -> Any:
        raise NotImplementedError

    jit = False
    """The reproducer wraps the function in jax.jit, as the compiled adapter does."""

    def reproducer(self, call: Call) -> str | None:
        device = "gpu" if call.device == "gpu" else "cpu"
        loss = self._elementwise_source()
        if call.weight is not None:
            loss = f"({loss}) * w_j"
        jit = "jax.jit" if self.jit else ""
        lines = [
            "import jax",
            "",
            'jax.config.update("jax_enable_x64", True)  # float64 arrays; every dtype is explicit',
            "import jax.numpy as jnp",
            *self._imports(),
            "",
            f'device = jax.devices("{device}")[0]',
            "",
            f"def array(a):  # exact: every value is a {call.dtype}",
            f"    return jax.device_put(jnp.asarray(a, dtype=jnp.{call.dtype}), device)",
            "",
            "x_j, y_j = array(x), array(y)",
            f"w_j = {'array(w)' if call.weight is not None else 'None'}",
            "",
            "def loss_fn(x_j, y_j, w_j):",
            f"    return {reduced(loss, call.reduction, 'jnp.mean', 'jnp.sum')}",
            "",
        ]
        if call.grad and call.order == 2:
            lines += [
                "def first(v):",
                "    loss_j, pullback = jax.vjp(lambda u: loss_fn(u, y_j, w_j), v)",
                "    return pullback(jnp.ones_like(loss_j))[0]",
                "",
                "def value_and_second(x_j, y_j, w_j):  # the Hessian's diagonal",
                "    _, pullback = jax.vjp(first, x_j)",
                "    return loss_fn(x_j, y_j, w_j), pullback(jnp.ones_like(x_j))[0]",
                "",
                f"loss_j, grad_j = {jit}(value_and_second)(x_j, y_j, w_j)",
                "grad = np.asarray(grad_j, dtype=np.float64)",
            ]
        elif call.grad:
            of = (
                "loss_fn(x_j, v, w_j), y_j" if call.wrt == "target" else "loss_fn(v, y_j, w_j), x_j"
            )
            lines += [
                "def value_and_grad(x_j, y_j, w_j):",
                f"    loss_j, pullback = jax.vjp(lambda v: {of})",
                "    return loss_j, pullback(jnp.ones_like(loss_j))[0]",
                "",
                f"loss_j, grad_j = {jit}(value_and_grad)(x_j, y_j, w_j)",
                "grad = np.asarray(grad_j, dtype=np.float64)",
            ]
        else:
            lines.append(f"loss_j = {jit}(loss_fn)(x_j, y_j, w_j)")
        lines.append("loss = np.asarray(loss_j, dtype=np.float64)")
        return "\n".join(lines)

    def _imports(self) -> list[str]:
        return []

    def _elementwise_source(self) -> str:
        """``_elementwise`` as source, on x_j and y_j."""
        raise NotImplementedError


class OptaxSigmoidBinaryCrossEntropy(JaxAdapter):
    name = "optax.sigmoid_binary_cross_entropy"
    api = "jnp.mean(optax.sigmoid_binary_cross_entropy(x, y))"
    forms = frozenset({"logits"})
    supports_weight = False
    supports_second_grad = True
    target_dtypes = frozenset(TARGET_DTYPES)  # labels.astype(logits.dtype), first thing
    conventions = Conventions(
        flush_subnormals=True,
        documented_domain="https://optax.readthedocs.io/en/latest/api/losses.html"
        "#optax.losses.sigmoid_binary_cross_entropy (labels: 'Binary labels whose values are "
        "{0,1} or multi-class target probabilities')",
        sources=(_OPTAX_SRC, XLA_FTZ),
    )

    @property
    def requires(self) -> tuple[str, ...]:
        return ("jax", "optax")

    def _elementwise(self, x: Any, y: Any) -> Any:
        import optax

        return optax.sigmoid_binary_cross_entropy(x, y)

    def _imports(self) -> list[str]:
        return ["import optax"]

    def _elementwise_source(self) -> str:
        return "optax.sigmoid_binary_cross_entropy(x_j, y_j)"


class JaxNumpyTextbook(JaxAdapter):
    name = "jax.numpy.textbook"
    api = "-(y*jnp.log(p) + (1-y)*jnp.log(1-p))"
    forms = frozenset({"probs"})
    conventions = Conventions(
        complement_in_dtype=True,
        flush_subnormals=True,
        sources=("adapters/formulas.py textbook_probs", XLA_FTZ),
    )

    def _elementwise(self, x: Any, y: Any) -> Any:
        import jax.numpy as jnp

        return formulas.textbook_probs(jnp, x, y)

    def _elementwise_source(self) -> str:  # formulas.textbook_probs, written out
        return "-(y_j * jnp.log(x_j) + (1 - y_j) * jnp.log(1 - x_j))"


class JitMixin(CompiledMixin):
    """Put before an eager JAX adapter: its function (loss and gradient) under jax.jit,
    one compile per signature, dropped with the eager caches (JaxMemoryBound)."""

    jit = True

    def cache_generation(self) -> int:
        return MEMORY.generation

    def _function(self, reduction: str, grad: bool, wrt: str, order: int = 1) -> Any:
        eager = super()._function  # type: ignore[misc]
        key = (reduction, grad, wrt, order)
        return self.compiled(key, lambda: import_jax().jit(eager(*key)))


class JitOptaxSigmoidBinaryCrossEntropy(JitMixin, OptaxSigmoidBinaryCrossEntropy):
    """The same optax loss and its gradient under jax.jit (XLA), one compile per signature."""

    name = "jax.jit(optax.sigmoid_binary_cross_entropy)"
    eager_adapter = "optax.sigmoid_binary_cross_entropy"
    api = "jax.jit(lambda x, y: jnp.mean(optax.sigmoid_binary_cross_entropy(x, y)))"


ADAPTERS = (
    OptaxSigmoidBinaryCrossEntropy(),
    JaxNumpyTextbook(),
    JitOptaxSigmoidBinaryCrossEntropy(),
)
