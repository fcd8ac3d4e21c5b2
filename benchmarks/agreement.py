"""Numerical agreement over time: per adapter and case file, the largest and the median
error in ULPs of the passing checks, and per adapter the number of checks with each verdict.

One conformance run (``bce-conformance run``, profile ``BCE_BENCH_PROFILE``, full by
default) in ``setup_cache`` feeds every benchmark here: a framework release that changes
numerics shows as a step in these graphs, and a check that changes verdict as a step in
the counts.
"""

from typing import Any

from asv_runner.benchmarks.mark import SkipNotImplemented

from conformance.speed import suite


def run_conformance() -> dict[str, Any]:
    return suite.agreement()


run_conformance.timeout = 3600  # type: ignore[attr-defined]


class Errors:
    params = (sorted(suite.grid_adapters()), suite.case_files())
    param_names = ("adapter", "case_file")
    rounds = 1
    setup_cache = staticmethod(run_conformance)

    def track_max_ulps(self, summary: dict[str, Any], adapter: str, case_file: str) -> float:
        return lookup(summary["max_ulps"], f"{adapter}|{case_file}")

    track_max_ulps.unit = "ULPs"  # type: ignore[attr-defined]

    def track_median_ulps(self, summary: dict[str, Any], adapter: str, case_file: str) -> float:
        return lookup(summary["median_ulps"], f"{adapter}|{case_file}")

    track_median_ulps.unit = "ULPs"  # type: ignore[attr-defined]


class Verdicts:
    params = (sorted(suite.grid_adapters()), list(suite.AGREEMENT_VERDICTS))
    param_names = ("adapter", "verdict")
    rounds = 1
    setup_cache = staticmethod(run_conformance)

    def track_checks(self, summary: dict[str, Any], adapter: str, verdict: str) -> float:
        counts = summary["verdicts"].get(adapter)
        if counts is None:
            raise SkipNotImplemented(f"{adapter} ran no check")
        return counts[verdict]

    track_checks.unit = "checks"  # type: ignore[attr-defined]


def lookup(values: dict[str, float], key: str) -> float:
    if key not in values:
        raise SkipNotImplemented(f"no passing check with an error for {key}")
    return values[key]
