"""Forward BCE time per adapter (built-in and installed plug-ins) on CPU, float32, reduction
mean: asv times the adapter's prepared ``execute`` (``adapters.base.Prepared``), the
framework's call and the synchronisation its result needs, with the inputs already the
framework's tensors and the loss objects built, so conversion is never timed.

Calls are prepared once per parameter through a cached helper, not a ``setup`` method (asv
then forces one call per sample, which ruins microsecond timings). Frameworks are imported
inside ``prepare``, never at module import, so one missing framework cannot abort
benchmark discovery; its parameters are skipped with ``SkipNotImplemented``. The first
call (import, tracing, compilation) is made before timing by ``_prepared``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from asv_runner.benchmarks.mark import SkipNotImplemented

from adapters.registry import discover
from conformance.speed.bench import BenchCase, bench_call

ADAPTERS = {a.name: a for a in discover().adapters}  # built-ins and installed plug-ins


@cache
def _prepared(name: str, size: int) -> Callable[[], Any]:
    adapter = ADAPTERS[name]
    call = bench_call(adapter, BenchCase(name, size, "float32"))
    reason = adapter.available() or adapter.unsupported(call)
    if reason:
        raise SkipNotImplemented(reason)
    if adapter.framework.startswith("keras["):  # runs in a helper process: asv would time
        raise SkipNotImplemented("timed inside its worker by bce-conformance bench")  # the pipe
    prepared = adapter.prepare(call)
    prepared.execute()  # warm up: import, trace, compile, allocate
    return prepared.execute


class Forward:
    params = (sorted(ADAPTERS), [1_000, 100_000])
    param_names = ("adapter", "size")
    rounds = 1

    def time_forward(self, name: str, size: int) -> None:
        _prepared(name, size)()
