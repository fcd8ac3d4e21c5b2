"""The timing core (adapters/timing.py) and the benchmark inputs
(conformance/speed/bench.py).

No assertion here is on how fast anything is: speed goes in benchmarks and reports. The
cross-check measures the same PyTorch call with torch.utils.benchmark.Timer and with the
core, interleaved, and compares their medians.
"""

from __future__ import annotations

import json
import statistics
import types

import numpy as np
import pytest
import torch.utils.benchmark

from adapters import timing
from adapters.timing import calibrate, measure, sample
from adapters.torch_bce import TorchBinaryCrossEntropyWithLogits
from conformance.cli import main
from conformance.speed.bench import BenchCase, bench_call, bytes_moved, inputs


class _Clock:
    """A ``perf_counter`` that moves only when the timed call advances it: the loop's own
    logic, apart from the machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_sample_lasts_at_least_the_minimum(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=clock))

    def call() -> None:  # 3 ms of the clock per call
        clock.now += 0.003

    # doubling from one call: 3 ms, 6 ms, then 12 ms, the first sample of at least 10 ms
    assert calibrate(call, min_sample_s=0.01) == 4
    result = measure(call, min_sample_s=0.01, repeats=5)
    assert result.number == 4 and result.repeats == 5
    assert result.minimum <= result.q1 <= result.median <= result.q3 <= result.maximum
    assert result.minimum == pytest.approx(0.003) and result.maximum == pytest.approx(0.003)
    assert result.number * result.median >= 0.01


@pytest.mark.integration
def test_the_core_agrees_with_torch_benchmark_timer():
    """Same prepared call (BCE with logits, 1e5 float32 elements, forward, one thread as
    Timer defaults to) timed by both: 21 samples each of the same number of calls, the two
    methods alternating sample by sample so a shared machine's bursts hit both alike. The
    medians agree within 5%; a neighbour can still skew one attempt, so up to three are
    made, and a real bias of the core fails all of them."""
    adapter = TorchBinaryCrossEntropyWithLogits()
    prepared = adapter.prepare(bench_call(adapter, BenchCase(adapter.name, 100_000, "float32")))
    prepared.execute()
    timer = torch.utils.benchmark.Timer(
        stmt="execute()", globals={"execute": prepared.execute}, num_threads=1
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    attempts = []
    try:
        number = calibrate(prepared.execute, min_sample_s=0.05)
        for _ in range(3):
            ours, theirs = [], []
            for _ in range(21):
                ours.append(sample(prepared.execute, number))
                theirs.append(timer.timeit(number).median)
            attempts.append(statistics.median(ours) / statistics.median(theirs))
            if abs(attempts[-1] - 1) < 0.05:
                break
    finally:
        torch.set_num_threads(threads)
    assert abs(attempts[-1] - 1) < 0.05, f"median core / Timer ratio per attempt: {attempts}"


def test_inputs_are_made_once_and_rounded_to_the_dtype():
    x, y = inputs("probs", 1000, "float16")
    assert inputs("probs", 1000, "float16")[0] is x
    assert x.dtype == np.float16 and ((x > 0) & (x < 1)).all() and set(np.unique(y)) <= {0, 1}


def test_bytes_moved_counts_inputs_results_and_gradients():
    forward = BenchCase("a", 1000, "float32")
    assert bytes_moved(forward) == 4 * (2 * 1000 + 1)
    assert bytes_moved(BenchCase("a", 1000, "float32", grad=True)) == 4 * (5 * 1000 + 1)
    assert bytes_moved(BenchCase("a", 1000, "float64", reduction="none")) == 8 * 3000


@pytest.mark.integration
def test_bench_command_writes_timings_and_the_roofline(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--adapters", "numpy.stable,optax.sigmoid_binary_cross_entropy",
                 "--sizes", "1e3", "--grad", "--output", str(out)])  # fmt: skip
    assert code == 0
    document = json.loads(out.read_text())
    assert document["copy_bandwidth_gb_per_s"] > 0 and document["timing_core_overhead_s"] > 0
    results = {(r["adapter"], r["grad"]): r for r in document["results"]}
    assert set(results) == {(a, g) for a in ("numpy.stable", "optax.sigmoid_binary_cross_entropy")
                            for g in (False, True)}  # fmt: skip
    for r in results.values():
        t = r["timing_s"]
        assert t["q1"] <= t["median"] <= t["q3"] and r["roofline_percent"] > 0
        assert not r["includes_conversion"]
    assert "numpy.stable" in capsys.readouterr().out
