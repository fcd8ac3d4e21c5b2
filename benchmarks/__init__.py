"""asv benchmarks for bce-conformance (asv.conf.json): speed, memory, compilation, the
roofline and numerical agreement, one module per concern, over the adapters and cases of
the suite itself (``conformance.speed.suite``).

asv imports this package once in its forkserver and forks a process per parameter set;
the frameworks are imported here, so no fork pays their import.
"""

from asv_runner.benchmarks.mark import SkipNotImplemented

from conformance.speed import suite
from conformance.speed.bench import BenchCase, BenchResult

suite.preload_frameworks()


def measured(case: BenchCase) -> BenchResult:
    """The timing core's measurement of ``case`` (made once per process), or n/a in asv
    with the reason when the adapter cannot run it here."""
    result = suite.measurement(case)
    if result.timing is None:
        raise SkipNotImplemented(result.skipped)
    return result
