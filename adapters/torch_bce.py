"""PyTorch adapters: ``nn.BCELoss``, ``F.binary_cross_entropy``, ``nn.BCEWithLogitsLoss``,
``F.binary_cross_entropy_with_logits``.

torch is imported inside the methods, never at module import. Conventions are taken from
``aten/src/ATen/native/Loss.cpp`` (CPU kernels) and the ``nn.BCELoss`` docs:

- probabilities: ``(y - 1) * max(log(1 - p), -100) - y * max(log(p), -100)``; the docs:
  "BCELoss clamps its log function outputs to be greater than or equal to -100". The
  complement is ``log(1 - p)`` on ``1 - p`` in the input dtype, not ``log1p(-p)``. The
  kernel raises "all elements of input should be between 0 and 1" (and the same for
  target) via TORCH_CHECK. Its backward is ``w (p - y) / max((1 - p) p, 1e-12)``, with
  1e-12 rounded to float32 at every dtype.
- logits: ``(1 - y) * x - (1 + (pw - 1) * y) * log_sigmoid(x)``; no clamp and no range
  check.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from adapters.base import Adapter, Conventions
from adapters.calls import DTYPES, Call, Prepared, in_result_dtype
from adapters.compiled import CompiledMixin
from adapters.snippets import keywords, optional

_LOSS_CPP = "https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/Loss.cpp"
_BCELOSS_DOC = "https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html"
_F_DOC = "https://pytorch.org/docs/stable/generated/torch.nn.functional.{}.html"

PROBS_CONVENTIONS = Conventions(
    log_floor=-100.0,
    # not complement_in_dtype: log(1 - p) is std::log1p(-p) in the CPU and CUDA kernels;
    # measured on torch 2.13 CPU: p = 1e-7 gives 1.00000005e-7 in float64 (-log1p(-p)), not
    # 1.0000000495e-7 (-log(1 - p))
    # EPSILON = 1e-12 reaches the kernel as a float (measured: float64 gradients are divided by
    # float32(1e-12) = 9.99999996e-13, not by 1e-12)
    grad_denominator_floor=float(np.float32(1e-12)),
    checks_probability_range=True,
    checks_target_range=True,
    documented_domain=f"{_F_DOC.format('binary_cross_entropy')} (input: 'probabilities'; "
    "target: 'values between 0 and 1')",
    sources=(
        f"{_BCELOSS_DOC} (log outputs clamped to >= -100)",
        f"{_LOSS_CPP} binary_cross_entropy_out_cpu: log1p(-input), TORCH_CHECK ranges",
        f"{_LOSS_CPP} binary_cross_entropy_backward_out_cpu: "
        "(input - target) / max((1 - input) * input, EPSILON), EPSILON = 1e-12",
    ),
)
LOGITS_CONVENTIONS = Conventions(
    documented_domain=f"{_F_DOC.format('binary_cross_entropy_with_logits')} (target: 'values "
    "between 0 and 1'); upstream asks for the check BCELoss has: "
    "https://github.com/pytorch/pytorch/issues/110865, "
    "https://github.com/pytorch/pytorch/pull/188297 (open)",
    sources=(f"{_LOSS_CPP} binary_cross_entropy_with_logits: (1 - y) x - lw log_sigmoid(x)",),
)


def _nothing() -> None:
    return None


class TorchAdapter(Adapter):
    result_dtype = "input"
    formula_declared = True  # its conventions, with their sources, are its formula
    shape_rule = "equal"
    shape_rule_source = (
        "https://github.com/pytorch/pytorch/blob/main/torch/nn/functional.py "
        "binary_cross_entropy and binary_cross_entropy_with_logits: ValueError when "
        "target.size() != input.size()"
    )
    result_dtype_source = (
        "https://pytorch.org/docs/stable/tensor_attributes.html#type-promotion-doc (operands "
        "of one floating dtype give a result of that dtype)"
    )
    framework = "torch"
    distribution = ("torch",)
    supports_grad = True
    supports_target_grad = True
    track_grad = False
    """Record autograd even for value-only calls (as in training)."""

    def devices(self) -> list[str]:
        import torch

        return ["cpu", "gpu"] if torch.cuda.is_available() else ["cpu"]

    def device_unavailable(self, device: str) -> str | None:
        if device == "gpu" and "gpu" not in self.devices():
            return "torch.cuda.is_available() is False"
        return None

    def prepare(self, call: Call) -> Prepared:
        import torch

        device = "cuda" if call.device == "gpu" else "cpu"

        def tensor(array: np.ndarray | None) -> Any:
            if array is None:
                return None
            if str(array.dtype) == "bfloat16":  # torch cannot read ml_dtypes': go via
                # float32, exact because every value is already a bfloat16
                return torch.from_numpy(array.astype(np.float32)).to(device, torch.bfloat16)
            return torch.from_numpy(np.array(array)).to(device=device)

        def to_numpy(t: Any) -> np.ndarray:
            values = t.detach().to("cpu", torch.float64).numpy()
            return in_result_dtype(values, str(t.dtype).removeprefix("torch."))

        track = call.grad or self.track_grad
        x = tensor(call.input).requires_grad_(track)
        y = tensor(call.target).requires_grad_(call.grad and call.wrt == "target")
        weight, pos_weight = tensor(call.weight), tensor(call.pos_weight)
        wrt = y if call.wrt == "target" else x
        synchronize = torch.cuda.synchronize if device == "cuda" else _nothing

        loss_of = self._loss(torch, weight=weight, pos_weight=pos_weight, reduction=call.reduction)

        def execute() -> tuple[Any, Any]:
            with torch.set_grad_enabled(track):
                loss = loss_of(x, y)
                grad = None
                if call.grad:
                    second = call.order == 2  # double backward: keep the first's graph
                    (grad,) = torch.autograd.grad(
                        loss, wrt, grad_outputs=torch.ones_like(loss), create_graph=second
                    )
                    if second:  # the Hessian is diagonal: d(sum of grad)/dx is its diagonal
                        (grad,) = torch.autograd.grad(grad, wrt, torch.ones_like(grad))
            synchronize()
            return loss, grad

        def results(done: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray | None]:
            loss, grad = done
            return to_numpy(loss), None if grad is None else to_numpy(grad)

        return Prepared(execute, results)

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        """(x, y) -> the loss: the module or function with its options, made once in
        ``prepare``, outside what a benchmark times."""
        raise NotImplementedError

    def reproducer(self, call: Call) -> str | None:
        device = "cuda" if call.device == "gpu" else "cpu"
        lines = [
            "import torch",
            "",
            f"def tensor(a):  # exact: every value is a {call.dtype}",
            f"    return torch.from_numpy(a).to({device!r}, torch.{call.dtype})",
            "",
            f"x_t = tensor(x).requires_grad_({call.grad or self.track_grad})",
            f"y_t = tensor(y).requires_grad_({call.grad and call.wrt == 'target'})",
        ]
        lines += ["w_t = tensor(w)"] if call.weight is not None else []
        lines += ["pw_t = tensor(pw)"] if call.pos_weight is not None else []
        lines.append(f"loss_t = {self._expression(call)}")
        if call.grad:
            wrt = "y_t" if call.wrt == "target" else "x_t"
            lines.append(
                f"(grad_t,) = torch.autograd.grad(loss_t, {wrt}, torch.ones_like(loss_t), "
                f"create_graph={call.order == 2})"
            )
            if call.order == 2:  # the Hessian is diagonal: d(sum of grad)/dx is its diagonal
                second = f"torch.autograd.grad(grad_t, {wrt}, torch.ones_like(grad_t))"
                lines.append(f"(grad_t,) = {second}")
            lines.append("grad = grad_t.to('cpu', torch.float64).numpy()")
        lines.append("loss = loss_t.detach().to('cpu', torch.float64).numpy()")
        return "\n".join(lines)

    def _expression(self, call: Call) -> str:
        """The loss as the user writes it, on x_t, y_t, w_t, pw_t."""
        raise NotImplementedError

    def _options(self, call: Call, pos_weight: bool) -> str:
        return keywords(
            weight=optional(call, "weight", "w_t"),
            pos_weight=optional(call, "pos_weight", "pw_t") if pos_weight else None,
            reduction=repr(call.reduction),
        )


class TorchBCELoss(TorchAdapter):
    name = "torch.nn.BCELoss"
    api = "torch.nn.BCELoss(weight=w, reduction=r)(p, y)"
    forms = frozenset({"probs"})
    conventions = PROBS_CONVENTIONS

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        options.pop("pos_weight")
        return torch.nn.BCELoss(**options)

    def _expression(self, call: Call) -> str:
        return f"torch.nn.BCELoss({self._options(call, False)})(x_t, y_t)"


class TorchBinaryCrossEntropy(TorchAdapter):
    name = "torch.nn.functional.binary_cross_entropy"
    api = "torch.nn.functional.binary_cross_entropy(p, y, weight=w, reduction=r)"
    forms = frozenset({"probs"})
    conventions = PROBS_CONVENTIONS

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        options.pop("pos_weight")
        return partial(torch.nn.functional.binary_cross_entropy, **options)

    def _expression(self, call: Call) -> str:
        options = self._options(call, False)
        return f"torch.nn.functional.binary_cross_entropy(x_t, y_t, {options})"


class TorchBCEWithLogitsLoss(TorchAdapter):
    name = "torch.nn.BCEWithLogitsLoss"
    api = "torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=r)(x, y)"
    forms = frozenset({"logits"})
    supports_pos_weight = True
    supports_second_grad = True
    target_dtypes = frozenset(DTYPES)  # a float target of another dtype: it computes
    conventions = LOGITS_CONVENTIONS

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        return torch.nn.BCEWithLogitsLoss(**options)

    def _expression(self, call: Call) -> str:
        return f"torch.nn.BCEWithLogitsLoss({self._options(call, True)})(x_t, y_t)"


class TorchBinaryCrossEntropyWithLogits(TorchAdapter):
    name = "torch.nn.functional.binary_cross_entropy_with_logits"
    api = "torch.nn.functional.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw)"
    forms = frozenset({"logits"})
    supports_pos_weight = True
    supports_second_grad = True
    target_dtypes = frozenset(DTYPES)  # a float target of another dtype: it computes
    conventions = LOGITS_CONVENTIONS

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        return partial(torch.nn.functional.binary_cross_entropy_with_logits, **options)

    def _expression(self, call: Call) -> str:
        options = self._options(call, True)
        return f"torch.nn.functional.binary_cross_entropy_with_logits(x_t, y_t, {options})"


_DECOMPOSITIONS = "https://github.com/pytorch/pytorch/blob/main/torch/_decomp/decompositions.py"
COMPILED_PROBS_CONVENTIONS = Conventions(
    log_floor=-100.0,
    grad_denominator_floor=1e-12,
    sources=(
        f"{_DECOMPOSITIONS} binary_cross_entropy: maximum(log1p(-p), -100)",
        f"{_DECOMPOSITIONS} binary_cross_entropy_backward: clamp(p (1 - p), min=1e-12), "
        "computed in float32 for half types (pw_cast_for_opmath)",
    ),
)


class _TorchCompiled(CompiledMixin, TorchAdapter):
    """torch.compile (inductor, the default backend) of a torch.nn.functional BCE.

    Inductor runs PyTorch's Python decompositions, not the eager C++ kernels: for
    probabilities that is log1p(-p) instead of log(1 - p), and no range check (its comment:
    'We cannot currently model this without introducing data-dependent control flow', a
    limitation, not a design: held to eager's contract, the missing check is a fail). Run at
    float32, the dtype models are compiled in: every new graph costs seconds on CPU (the
    compile column of the time breakdown ``bce-conformance run`` prints).
    """

    functional = ""
    track_grad = True  # one graph per signature, as compiled training runs it: switching
    # grad mode would double the graphs, and the compile time the run's breakdown prints

    def dtypes(self) -> list[str]:
        return ["float32"]

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        if "with_logits" not in self.functional:
            options.pop("pos_weight")
        function = getattr(torch.nn.functional, self.functional)
        compiled = self.compiled(self.functional, lambda: torch_compile(torch, function))
        return partial(compiled, **options)

    def _expression(self, call: Call) -> str:
        options = self._options(call, "with_logits" in self.functional)
        compiled = f"torch.compile(torch.nn.functional.{self.functional}, dynamic=True)"
        return f"{compiled}(x_t, y_t, {options})"


def torch_compile(torch: Any, function: Callable[..., Any]) -> Any:
    """torch.compile of ``function``, for every signature of the matrix.

    Past dynamo's recompile limit (8 graphs per function) torch.compile silently runs the
    eager code instead, so the matrix's many signatures would end up measuring eager
    PyTorch under a compiled name. Raise the limits, and make hitting one an error."""
    config = torch._dynamo.config
    config.recompile_limit = 100_000
    config.accumulated_recompile_limit = 100_000
    config.fail_on_recompile_limit_hit = True
    return torch.compile(function, dynamic=True)


class TorchCompiledBinaryCrossEntropy(_TorchCompiled):
    name = "torch.compile(F.binary_cross_entropy)"
    eager_adapter = "torch.nn.functional.binary_cross_entropy"
    api = "torch.compile(torch.nn.functional.binary_cross_entropy)(p, y, weight=w, reduction=r)"
    forms = frozenset({"probs"})
    functional = "binary_cross_entropy"
    conventions = COMPILED_PROBS_CONVENTIONS
    eager_conventions = PROBS_CONVENTIONS  # held to eager's range checks


class TorchCompiledBinaryCrossEntropyWithLogits(_TorchCompiled):
    name = "torch.compile(F.binary_cross_entropy_with_logits)"
    eager_adapter = "torch.nn.functional.binary_cross_entropy_with_logits"
    api = "torch.compile(torch.nn.functional.binary_cross_entropy_with_logits)(x, y, ...)"
    forms = frozenset({"logits"})
    supports_pos_weight = True
    functional = "binary_cross_entropy_with_logits"
    conventions = LOGITS_CONVENTIONS


ADAPTERS = (
    TorchBCELoss(),
    TorchBinaryCrossEntropy(),
    TorchBCEWithLogitsLoss(),
    TorchBinaryCrossEntropyWithLogits(),
    TorchCompiledBinaryCrossEntropy(),
    TorchCompiledBinaryCrossEntropyWithLogits(),
)
