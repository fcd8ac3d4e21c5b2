"""Input outside BCE's domain, through the real frameworks: raising is a pass; a compiled
mode that returns a value where its eager API raises is a fail; an API that computes
through input its documentation calls invalid is ``accepts_invalid`` (with the link); the
suite's own formulas, which state no domain, compute through by design (``convention``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.reports.document import load_document

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = (
    "torch.nn.BCELoss",
    "torch.nn.functional.binary_cross_entropy_with_logits",
    "torch.compile(F.binary_cross_entropy)",
    "numpy.stable",
    "tf.nn.sigmoid_cross_entropy_with_logits",
    "optax.sigmoid_binary_cross_entropy",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("invalid") / "report.json"
    main(["run", "--profile", "full", "--dtypes", "float32", "--jobs", "1",
          "--cases", str(ROOT / "cases" / "invalid-inputs.yaml"),
          "--adapters", ",".join(ADAPTERS), "--output", str(output)])  # fmt: skip
    return load_document(output)


def _checks(report: dict[str, Any], adapter: str, case: str) -> list[dict[str, Any]]:
    """The checks of ``adapter`` on ``case`` that ran (no GPU here: those are skips)."""
    ran = [c for c in report["checks"] if c["adapter"] == adapter and c["case"] == case
           and c["verdict"] != "skip"]  # fmt: skip
    if not ran:
        pytest.skip(f"{adapter} did not run here")
    return ran


@pytest.mark.integration
def test_an_eager_api_that_raises_passes(report: dict[str, Any]) -> None:
    checks = _checks(report, "torch.nn.BCELoss", "invalid-inputs/p-above-one")
    assert {c["verdict"] for c in checks} == {"pass"}
    assert all("raised as expected" in c["detail"] for c in checks)


def test_a_compiled_mode_that_drops_its_eager_range_check_fails(report: dict[str, Any]) -> None:
    for case in ("invalid-inputs/p-above-one", "invalid-inputs/target-above-one-probs"):
        checks = _checks(report, "torch.compile(F.binary_cross_entropy)", case)
        assert {c["verdict"] for c in checks} == {"fail"}, case
        assert all("where the eager API raises" in c["detail"] for c in checks)


@pytest.mark.parametrize(
    ("adapter", "link"),
    [
        ("torch.nn.functional.binary_cross_entropy_with_logits", "pytorch.org/docs"),
        ("tf.nn.sigmoid_cross_entropy_with_logits", "tensorflow.org/api_docs"),
        ("optax.sigmoid_binary_cross_entropy", "optax.readthedocs.io"),
    ],
)
def test_documented_invalid_targets_that_compute_through_are_their_own_finding(
    report: dict[str, Any], adapter: str, link: str
) -> None:
    checks = _checks(report, adapter, "invalid-inputs/target-above-one-logits")
    assert {c["verdict"] for c in checks} == {"accepts_invalid"}
    assert all(link in c["detail"] for c in checks)
    assert report["summary"][adapter]["accepts_invalid"] > 0


def test_the_suites_own_formula_computes_through_by_design(report: dict[str, Any]) -> None:
    checks = _checks(report, "numpy.stable", "invalid-inputs/target-above-one-logits")
    assert {c["verdict"] for c in checks} == {"convention"}
    assert all("no-range-check" in c["conventions"] for c in checks)
