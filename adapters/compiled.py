"""Compiled modes (torch.compile, jax.jit, tf.function(jit_compile=True)) as adapters.

A compiled adapter is its eager adapter run through the framework's compiler; compilers
change numerics (fusion, decompositions, different math libraries), so they are compared
like any other adapter, and held to their eager API's contract: where the eager call raises
on invalid input, a compiled call that returns a value fails. Compilation is kept out of
check time: the first call with a new signature (form, dtype, shapes, reduction, gradient,
options present) is a warm-up whose time is reported as ``compile_seconds``, and the
check's value comes from a second call.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable
from typing import Any

from adapters.base import Conventions
from adapters.calls import Call, Outcome


def signature(call: Call) -> tuple[Any, ...]:
    """What a compiler specialises on: everything but the values."""

    def shape(a: Any) -> tuple[int, ...] | None:
        return None if a is None else tuple(a.shape)

    return (call.form, call.dtype, call.device, shape(call.input), shape(call.target),
            shape(call.weight), shape(call.pos_weight), call.reduction, call.grad,
            call.wrt, call.order, call.target_dtype, call.label_smoothing, call.axis,
            shape(call.sample_weight))  # fmt: skip


class CompiledMixin:
    """Put before the eager adapter class: ``class X(CompiledMixin, EagerAdapter)``."""

    extended = True
    eager_adapter: str = ""
    """The name of the eager adapter this mode traces or compiles (``same_code_as``)."""
    eager_conventions: Conventions | None = None
    """The eager API's conventions where the compiled mode declares others (its own
    decompositions); None: the eager class's, inherited unchanged."""

    @property
    def same_code_as(self) -> str:
        return self.eager_adapter

    @property
    def contract(self) -> Conventions:
        """The eager API's conventions: a compiled mode keeps its eager API's promises."""
        return self.eager_conventions or self.conventions  # type: ignore[attr-defined]

    def run(self, call: Call) -> Outcome:
        seen: set[tuple[Any, ...]] = self.__dict__.setdefault("_compiled_signatures", set())
        compile_seconds = 0.0
        key = (self.cache_generation(), signature(call))
        if key not in seen:
            start = time.perf_counter()
            warm = super().run(call)  # type: ignore[misc]
            compile_seconds = time.perf_counter() - start
            if warm.error is not None:
                return warm  # a refusal at compile time is the outcome
            seen.add(key)
        outcome: Outcome = super().run(call)  # type: ignore[misc]
        return dataclasses.replace(outcome, compile_seconds=compile_seconds)

    def cache_generation(self) -> int:
        """Changes when the framework dropped its compiled code: signatures warm up again."""
        return 0

    def compiled(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The compiled callable for ``key``, built once per adapter instance."""
        cache: dict[Hashable, Any] = self.__dict__.setdefault("_compiled_callables", {})
        if key not in cache:
            cache[key] = build()
        return cache[key]
