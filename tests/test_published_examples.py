"""The two published worked examples through every available adapter that supports them:
they must reproduce to the stated significant digits at float32 and float64."""

from __future__ import annotations

import pytest

from adapters.registry import builtin_adapters
from conformance.engine.cases import load_cases
from conformance.engine.matrix import build_call, expand

pytestmark = pytest.mark.integration

CASES = [c for c in load_cases()[0] if c.published is not None]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("adapter", builtin_adapters(), ids=lambda a: a.name)
def test_published_value(case, dtype, adapter):
    if case.form not in adapter.forms:
        pytest.skip(f"{adapter.name} takes {sorted(adapter.forms)}")
    if reason := adapter.available():
        pytest.skip(reason)
    published = case.published
    check = next(
        c for c in expand([case], [adapter], [dtype], ["cpu"]) if c.reduction == published.reduction
    )
    call, _ = build_call(check)
    if reason := adapter.unsupported(call):
        pytest.skip(reason)
    outcome = adapter.run(call)
    assert outcome.error is None, outcome.error
    digits = published.digits
    assert f"{float(outcome.value):.{digits}g}" == f"{published.value:.{digits}g}"
