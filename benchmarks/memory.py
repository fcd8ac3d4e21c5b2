"""Peak resident memory of one prepared BCE call (forward, and forward+backward) at 1e6 and
1e7 float32 elements on the CPU.

asv's ``peakmem_`` reads the benchmark process's largest resident set: the frameworks
loaded before the fork (the same for every parameter), the inputs, and what the framework
allocates for the call. Differences between adapters and sizes are the framework's. The
Keras 3 backends other than TensorFlow's cannot run here (TensorFlow, loaded before the
fork, imports Keras on its own backend; their timings come from a helper process): n/a.
"""

from asv_runner.benchmarks.mark import SkipNotImplemented

from conformance.speed import suite
from conformance.speed.bench import BenchCase, bench_call


def run_once(case: BenchCase) -> None:
    adapter = suite.grid_adapters()[case.adapter]
    call = bench_call(adapter, case)
    reason = adapter.available() or adapter.unsupported(call)
    in_process_refusal = getattr(adapter, "in_process_refusal", None)  # Keras 3 backends
    reason = reason or (in_process_refusal() if in_process_refusal else None)
    if reason:
        raise SkipNotImplemented(reason)
    adapter.prepare(call).execute()


class PeakMemory:
    params = (sorted(suite.grid_adapters()), [1_000_000, 10_000_000])
    param_names = ("adapter", "size")
    rounds = 1
    timeout = 900

    def peakmem_forward(self, adapter: str, size: int) -> None:
        run_once(BenchCase(adapter, size, "float32"))

    def peakmem_forward_backward(self, adapter: str, size: int) -> None:
        run_once(BenchCase(adapter, size, "float32", grad=True))
