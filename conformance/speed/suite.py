"""What the asv benchmarks (``benchmarks/``) measure, outside asv's glue so that the CLI,
the tests and asv share it: the adapter grid, framework preloading, one measurement per
parameter set, the roofline, and numerical agreement read from a conformance run.

The ``BCE_BENCH_*`` environment variables (declared, with their meaning and default, in
``conformance/profiles.py``; ``python -m conformance.profiles list`` prints them) are read
when the benchmarks are imported, the same for a base and a current run that are compared.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
from collections import defaultdict
from functools import cache
from pathlib import Path
from statistics import median
from typing import Any

from adapters.base import Adapter
from adapters.compiled import CompiledMixin
from adapters.registry import discover, select
from conformance.application import RunSpec, conformance_report, run_conformance
from conformance.engine.cases import CASES_DIR
from conformance.profiles import (
    ADAPTERS_VARIABLE,
    AGREEMENT_MATRIX_PROFILE,
    CASES_VARIABLE,
    ONLY_VARIABLE,
    PROFILE_VARIABLE,
    Variable,
)
from conformance.reports.records import Report
from conformance.running.cache_dir import default_cache_dir
from conformance.speed.bench import BenchCase, BenchResult, run_case
from conformance.vocabulary import Verdict

AGREEMENT_VERDICTS = ("pass", "convention", "accepts_invalid", "fail", "known_bug", "error")
"""Counted per adapter; ``known_bug`` counts the fails and errors the registry explains
(they are also in ``fail`` or ``error``)."""
PRELOADED = ("numpy", "torch", "tensorflow", "jax", "optax")
"""Imported once by asv's forkserver, so that each benchmark process (a fork) starts with
them loaded instead of paying the import (seconds for TensorFlow: ``python -X importtime -c
"import tensorflow"``) per parameter set.
Importing runs no kernels and starts no threads; Keras is left out because its backend is
chosen at import, per benchmark."""


def _listed(variable: Variable) -> list[str]:
    return [item.strip() for item in os.environ.get(variable.name, "").split(",") if item.strip()]


@cache
def grid_adapters() -> dict[str, Adapter]:
    """Adapters the benchmarks cover, by name: built-ins, installed plug-ins, the specs in
    ``BCE_BENCH_ADAPTERS``; only those matching ``BCE_BENCH_ONLY`` when it is set."""
    adapters = discover(_listed(ADAPTERS_VARIABLE)).adapters
    return {a.name: a for a in select(adapters, _listed(ONLY_VARIABLE) or None)}


def compiled_adapters() -> list[str]:
    return [name for name, a in grid_adapters().items() if isinstance(a, CompiledMixin)]


def case_files() -> list[str]:
    """Names of the case files (the agreement benchmarks' parameter)."""
    return sorted(path.stem for path in cases_dir().glob("*.yaml"))


def cases_dir() -> Path:
    return Path(os.environ.get(CASES_VARIABLE.name) or CASES_DIR)


def preload_frameworks() -> None:
    """Import the installed frameworks of ``PRELOADED`` that the grid's adapters use (a
    missing one is skipped: its adapters then say why they cannot run). A grid narrowed by
    ``BCE_BENCH_ONLY`` to NumPy adapters does not wait for TensorFlow's 9 s import in each
    asv command."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner
    used = {module for adapter in grid_adapters().values() for module in adapter.requires}
    for module in (m for m in PRELOADED if m in used):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


@cache
def measurement(case: BenchCase) -> BenchResult:
    """The timing core's measurement of ``case`` in this process, made once."""
    return run_case(grid_adapters()[case.adapter], case)


def conformance_run(profile: str, adapter_globs: list[str], extra_specs: list[str]) -> Report:
    """The report of a conformance run over the grid's adapters, made as a user's run
    is (``conformance/application.py``: its own supervised workers and cache directory)."""
    spec = RunSpec(
        profile=profile,
        adapter_globs=adapter_globs or None,
        extra_adapters=extra_specs,
        case_paths=[cases_dir()],
        cache_dir=default_cache_dir(),
    )
    return conformance_report(run_conformance(spec))


def agreement_summary(report: Report) -> dict[str, Any]:
    """From a conformance report: per (adapter, case file) the largest and the median error
    in ULPs of its passing checks, and per adapter the count of each verdict.

    Only passing checks give ULPs: a convention's or a fail's distance from the mathematics
    is not bounded (a clamped log is 1e30 ULPs away), and those checks are counted by verdict
    instead, so a change of verdict shows there and a change within tolerance shows here."""
    errors: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AGREEMENT_VERDICTS, 0))
    for check in report.checks:
        key, verdict = check.key, check.verdict.value
        counts = verdicts[key.adapter]
        if verdict in counts:
            counts[verdict] += 1
        if check.known_bug is not None:
            counts["known_bug"] += 1
        error = check.error_ulps  # inf or NaN: no ULPs to track
        if check.verdict is Verdict.PASS and error is not None and math.isfinite(error):
            errors[f"{key.adapter}|{key.case.split('/')[0]}"].append(error)
    return {
        "max_ulps": {key: max(values) for key, values in errors.items()},
        "median_ulps": {key: median(values) for key, values in errors.items()},
        "verdicts": {name: dict(counts) for name, counts in verdicts.items()},
    }


def agreement(profile: str | None = None) -> dict[str, Any]:
    """``agreement_summary`` of a fresh conformance run over the grid's adapters."""
    profile = profile or os.environ.get(PROFILE_VARIABLE.name) or AGREEMENT_MATRIX_PROFILE
    report = conformance_run(profile, _listed(ONLY_VARIABLE), _listed(ADAPTERS_VARIABLE))
    return agreement_summary(report)
