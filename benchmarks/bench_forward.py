"""Forward BCE time per adapter (built-in and installed plug-ins) on CPU, float32, reduction
mean, through the adapter layer.

Inputs are prepared once per parameter through a cached helper, not a ``setup`` method
(asv then forces one call per sample, which ruins microsecond timings: ASV_NOTES.md).
Frameworks are imported inside the timed adapters, never at module import, so one missing
framework cannot abort benchmark discovery; its parameters are skipped with
``SkipNotImplemented``. The first call per process (import, tracing) is made before timing
by ``_prepared``.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from asv_runner.benchmarks.mark import SkipNotImplemented

from adapters.base import Adapter, Call
from adapters.registry import discover

ADAPTERS = {a.name: a for a in discover().adapters}  # built-ins and installed plug-ins


@cache
def _prepared(name: str, form: str, size: int) -> tuple[Adapter, Call]:
    adapter = ADAPTERS[name]
    if adapter.available() or form not in adapter.forms:
        raise SkipNotImplemented(adapter.available() or f"{name} takes no {form}")
    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 0.99, size) if form == "probs" else rng.normal(0, 3, size)
    y = (rng.random(size) < 0.5).astype(np.float64)
    call = Call(
        form, x.astype(np.float32), y.astype(np.float32), None, None, "mean", "float32", "cpu"
    )
    if reason := adapter.unsupported(call):
        raise SkipNotImplemented(reason)
    outcome = adapter.run(call)  # warm up: import, trace, allocate
    if outcome.error is not None:
        raise SkipNotImplemented(outcome.error)
    return adapter, call


class Forward:
    params = (sorted(ADAPTERS), ["probs", "logits"], [1_000, 100_000])
    param_names = ("adapter", "form", "size")
    rounds = 1

    def time_forward(self, name: str, form: str, size: int) -> None:
        adapter, call = _prepared(name, form, size)
        adapter.run(call)
