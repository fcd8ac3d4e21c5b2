"""``bce-conformance hunt``: search for inputs where an adapter leaves tolerance.

For each adapter, form (probabilities or logits), dtype and quantity (loss, input gradient),
hypothesis draws small arrays (4 elements: one compiled graph per signature) of logits
over the whole range the dtype holds (mostly within +-120, where losses and gradients are
normal, sometimes out to the dtype's largest) or of probabilities (mostly away from 0 and
1, sometimes at them), with hard or soft targets, and judges each through the same
``Runner`` as the matrix (the reference, the tolerances, the adapter's conventions, the
known-bug registry). A fail or error the registry does not explain (or any, with
``--ignore-known-bugs``) is shrunk by hypothesis to a minimal example and kept. Each
search gets a bounded time: the first examples are timed and the number of examples set to
fit.

What is found is written as a case file (``hunt.yaml``, valid input to ``--cases``) and one
reproducer per failing check of a normal run over that case file (``<case id>.py``, the
same snippets as ``bce-conformance repro``; adapters that cannot write one get none), so
the findings are checks like any other.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from adapters.base import Adapter
from conformance.engine.cases import Case
from conformance.engine.dtypes import float_format
from conformance.engine.matrix import Check, CheckResult, Runner
from conformance.known_bugs import load_known_bugs
from conformance.vocabulary import Quantity

ELEMENTS = 4
"""Per example: small enough to read, fixed so compiled modes compile once."""
TIMING_EXAMPLES = 5
"""Examples timed before the budget decides how many more a search gets."""


@dataclass(frozen=True)
class Finding:
    """A minimal example outside tolerance that no registry entry explains."""

    adapter: str
    form: str
    dtype: str
    quantity: Quantity
    input: tuple[float, ...]
    target: tuple[float, ...]
    verdict: str
    detail: str

    @property
    def case_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.adapter.lower()).strip("-")
        return f"{slug}-{self.form}-{self.dtype}-{self.quantity.value}"

    def as_case(self) -> dict[str, Any]:
        return {
            "id": self.case_id,
            "description": f"found by bce-conformance hunt: {self.verdict}: {self.detail}"[:300],
            "form": self.form,
            "input": [float(v) for v in self.input],
            "target": [float(v) for v in self.target],
            "dtypes": [self.dtype],
            "reductions": ["none"],
        }


def _logits(limit: float) -> st.SearchStrategy[float]:
    usual = st.floats(-120.0, 120.0, allow_nan=False)
    extreme = st.floats(-limit, limit, allow_nan=False, allow_infinity=False)
    return st.one_of(usual, usual, usual, extreme)


def _probabilities() -> st.SearchStrategy[float]:
    inner = st.floats(1e-6, 1 - 1e-6)
    return st.one_of(inner, inner, inner, st.floats(0.0, 1.0))


def _targets() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


def _case(form: str, dtype: str, x: Sequence[float], y: Sequence[float]) -> Case:
    spec = {"input": list(x), "target": list(y)}
    return Case(id="hunt/candidate", file="<hunt>", description="a hunt candidate", form=form,
                reductions=("none",), dtypes=(dtype,), expect_error=None, published=None,
                tags=(), spec=spec)  # fmt: skip


class _Found(AssertionError):
    """Raised inside the search so that hypothesis shrinks the example."""


def search(
    adapter: Adapter, form: str, dtype: str, quantity: Quantity, seconds: float, runner: Runner
) -> Finding | None:
    """The minimal unexplained failure hypothesis finds within about ``seconds``, or None."""
    fmt = float_format(dtype)
    limit = float(fmt.info().max)
    values = _logits(limit) if form == "logits" else _probabilities()
    arrays = st.tuples(
        st.lists(values, min_size=ELEMENTS, max_size=ELEMENTS),
        st.lists(_targets(), min_size=ELEMENTS, max_size=ELEMENTS),
    )
    last: list[CheckResult] = []

    def rounded(values: list[float]) -> list[float]:
        return [float(v) for v in fmt.round(np.array(values, dtype=np.float64))]

    def judge(pair: tuple[list[float], list[float]]) -> None:
        x, y = rounded(pair[0]), rounded(pair[1])
        check = Check(adapter, _case(form, dtype, x, y), dtype, "cpu", "none", quantity)
        result = runner.run(check)
        if result.is_finding:
            last[:] = [result]
            raise _Found(f"{x} {y}")

    started = time.perf_counter()
    try:
        _run(judge, arrays, TIMING_EXAMPLES)
        per_example = (time.perf_counter() - started) / TIMING_EXAMPLES
        remaining = max(seconds - (time.perf_counter() - started), 0.0)
        _run(judge, arrays, int(remaining / max(per_example, 1e-4)))
    except _Found:
        result = last[0]
        x, y = result.check.case.spec["input"], result.check.case.spec["target"]
        return Finding(adapter.name, form, dtype, quantity, tuple(x), tuple(y),
                       result.verdict.value, result.judgement.detail)  # fmt: skip
    return None


def _run(judge: Callable[[Any], None], arrays: st.SearchStrategy[Any], examples: int) -> None:
    if examples < 1:
        return
    configured = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    configured(given(arrays)(judge))()


def hunt(
    adapters: Sequence[Adapter],
    dtypes: Sequence[str],
    seconds: float,
    quantities: Sequence[Quantity] = (Quantity.VALUE, Quantity.GRAD),
    progress: Callable[[str], None] = print,
    known_bugs: bool = True,
) -> list[Finding]:
    """Every search over ``adapters`` x their forms x ``dtypes`` x ``quantities``, on the CPU.
    ``known_bugs=False`` searches past the registry: registered bugs are findings too (do
    they still reproduce under random search?)."""
    runner = Runner(load_known_bugs() if known_bugs else [])
    findings: list[Finding] = []
    for adapter in adapters:
        reason = runner.skip_reason(adapter, "cpu")
        if reason:
            progress(f"{adapter.name}: skipped ({reason})")
            continue
        for form in sorted(adapter.forms):
            for dtype in (d for d in dtypes if d in adapter.dtypes()):
                for quantity in (q for q in quantities if not q.grad or adapter.supports_grad):
                    found = search(adapter, form, dtype, quantity, seconds, runner)
                    what = f"{adapter.name} {form} {dtype} {quantity.value}"
                    progress(f"{what}: {'FOUND ' + found.detail if found else 'nothing found'}")
                    if found:
                        findings.append(found)
    return findings


def write_cases(findings: Sequence[Finding], path: Path) -> None:
    """The findings as a case file (``--cases`` input)."""
    document = {
        "description": "Minimal inputs bce-conformance hunt found outside tolerance, with no "
        "known-bug registry entry explaining them.",
        "cases": [f.as_case() for f in findings],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=100), encoding="utf-8")
