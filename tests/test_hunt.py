"""bce-conformance hunt: hypothesis finds what the textbook formula gets wrong, shrinks it,
writes a valid case file and reproducers that run; it raises no false alarm on a correct
implementation. Real NumPy adapters, real hypothesis, small time budgets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.registry import builtin_adapters, discover
from conformance import hunt
from conformance.cli import main
from conformance.engine.cases import load_cases
from conformance.engine.matrix import Check, Runner
from conformance.known_bugs import load_known_bugs
from conformance.reports.document import load_document
from conformance.vocabulary import Quantity, Verdict

ADAPTERS = {a.name: a for a in builtin_adapters()}
NAIVE = Path(__file__).parent / "fixtures" / "naive_bce.py"


def test_a_finding_is_minimal_and_reproduces_as_a_case(tmp_path: Path) -> None:
    runner = Runner(load_known_bugs())
    (adapter,) = discover([f"{NAIVE}:naive_bce"]).adapters[-1:]
    assert adapter.name == "test.naive_bce"
    found = hunt.search(adapter, "logits", "float32", Quantity.VALUE, 3.0, runner)
    assert found is not None, "the textbook log(1 - sigmoid(x)) loses bits for x > 0"
    assert len(found.input) == hunt.ELEMENTS
    path = tmp_path / "hunt.yaml"
    hunt.write_cases([found], path)
    cases, errors = load_cases([path])
    assert not errors and len(cases) == 1
    result = runner.run(Check(adapter, cases[0], "float32", "cpu", "none"))
    assert result.verdict is Verdict.FAIL and result.known_bug is None


@pytest.mark.integration
@pytest.mark.parametrize("form", ["logits", "probs"])
@pytest.mark.parametrize("quantity", [Quantity.VALUE, Quantity.GRAD])
def test_no_false_alarm_on_a_correct_implementation(form: str, quantity: Quantity) -> None:
    runner = Runner(load_known_bugs())
    found = hunt.search(ADAPTERS["numpy.stable"], form, "float32", quantity, 3.0, runner)
    assert found is None, found


@pytest.mark.integration
def test_the_command_writes_cases_and_runnable_reproducers(tmp_path: Path) -> None:
    """Past the registry, the hunt finds numpy.textbook's registered bugs again (its
    adapter writes reproducers; a plug-in function like test.naive_bce cannot)."""
    code = main(["hunt", "--adapters", "numpy.textbook", "--ignore-known-bugs",
                 "--dtypes", "float32", "--seconds", "2", "--output", str(tmp_path)])  # fmt: skip
    assert code == 1
    assert (tmp_path / "hunt.yaml").is_file() and (tmp_path / "hunt.json").is_file()
    report = load_document(tmp_path / "hunt.json")
    assert any(c["known_bug"] for c in report["checks"]), "the run over hunt.yaml knows them"
    snippets = sorted(tmp_path.glob("*.py"))
    failed = [c for c in report["checks"] if Verdict(c["verdict"]).failed]
    assert len(snippets) == len(failed)  # one per failed check: none overwrites another
    ran = subprocess.run([sys.executable, str(snippets[0])], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    assert "returned:" in ran.stdout and "correct:" in ran.stdout
