"""The registry recognises a known bug by its condition in anyone's cases, only as the kind
of finding it registers, and the gradient tail rule finds what the terms-scaled tolerance
let pass. Real frameworks (PyTorch, TensorFlow, optax, NumPy) on a user's own case file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters import bce_adapter
from conformance.cli import main
from conformance.engine.cases import load_cases
from conformance.engine.matrix import Check, Runner
from conformance.known_bugs import KnownBug, KnownBugsError, Range, explain, load_known_bugs
from conformance.reports.document import load_document
from conformance.vocabulary import Verdict

TORCH_CANCELLATION = "https://github.com/pytorch/pytorch/issues/39435"
TORCH_GRADIENT_TAIL = "https://github.com/pytorch/pytorch/issues/195677"
USER_CASES = """\
description: a user's own cases; none of their ids is in the registry
cases:
  - id: my-negative-logits
    description: x = -10, y = 0 among harmless elements (torch's loss cancels at x < 0).
    form: logits
    input: [-10.0, 0.5, 2.0]
    target: [0.0, 1.0, 0.0]
    reductions: [none]
  - id: my-confident-positives
    description: x = 20, y = 1 (the exact gradient -2.06e-9 is a normal float32).
    form: logits
    input: [20.0, 1.0]
    target: [1.0, 0.0]
    reductions: [none, mean]
  - id: my-soft-label
    description: x = 20, y = 0.99; the gradient sigmoid(x) - y is a genuine difference.
    form: logits
    input: [20.0]
    target: [0.99]
    reductions: [none]
"""
ADAPTERS = (
    "torch.nn.functional.binary_cross_entropy_with_logits",
    "tf.nn.sigmoid_cross_entropy_with_logits",
    "optax.sigmoid_binary_cross_entropy",
    "numpy.stable",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("user-cases")
    (folder / "mine.yaml").write_text(USER_CASES)
    output = folder / "report.json"
    code = main(["run", "--dtypes", "float32", "--devices", "cpu", "--jobs", "1",
                 "--cases", str(folder / "mine.yaml"), "--adapters", ",".join(ADAPTERS),
                 "--output", str(output)])  # fmt: skip
    return code, load_document(output)


def _checks(report: dict[str, Any], adapter: str, case: str, quantity: str) -> list[dict]:
    found = [c for c in report["checks"] if c["adapter"] == adapter and c["quantity"] == quantity
             and c["case"] == f"mine/{case}" and c["verdict"] != "skip"]  # fmt: skip
    if not found:
        pytest.skip(f"{adapter} did not run here")
    return found


@pytest.mark.integration
def test_a_users_case_hitting_a_registered_bug_is_labelled_with_its_link(run) -> None:
    code, report = run
    (loss,) = _checks(report, ADAPTERS[0], "my-negative-logits", "value")
    assert loss["verdict"] == "fail"
    assert loss["known_bug"]["link"] == TORCH_CANCELLATION
    assert code == 0, "every fail is a known bug: the run must not exit 1"


def test_a_zero_gradient_where_the_exact_one_is_normal_fails(run) -> None:
    _, report = run
    for check in _checks(report, ADAPTERS[0], "my-confident-positives", "grad"):
        assert check["verdict"] == "fail", check["id"]
        assert "of the value" in check["detail"]
        assert check["known_bug"]["link"] == TORCH_GRADIENT_TAIL


@pytest.mark.parametrize("adapter", ADAPTERS[2:])
def test_correct_implementations_raise_no_false_alarm(run, adapter: str) -> None:
    _, report = run
    for case in ("my-negative-logits", "my-confident-positives", "my-soft-label"):
        for quantity in ("value", "grad"):
            for check in _checks(report, adapter, case, quantity):
                assert check["verdict"] == "pass", (check["id"], check["detail"])


def test_tensorflows_soft_label_cancellation_is_recognised_outside_its_case_file(run) -> None:
    _, report = run
    (loss,) = _checks(report, ADAPTERS[1], "my-soft-label", "value")
    assert loss["verdict"] == "fail" and "nn_impl.py" in loss["known_bug"]["link"]
    for grad in _checks(report, ADAPTERS[1], "my-confident-positives", "grad"):
        assert grad["verdict"] == "pass", "its gradient at x = 20, y = 1 is -sigmoid(-20)"


def test_a_soft_label_difference_keeps_the_terms_scaled_tolerance(run) -> None:
    _, report = run
    (grad,) = _checks(report, ADAPTERS[0], "my-soft-label", "grad")
    assert grad["verdict"] == "pass", grad["detail"]


# --- kind and condition matching, through a test-only adapter ------------------------


def _raises(x, y, weight=None, reduction="mean"):
    raise ValueError("this adapter always raises")


def _accuracy_bug(verdict: str) -> KnownBug:
    return KnownBug(adapter=("test.raises",), reason="r", link="https://example.org/1",
                    verdict=verdict, when=((Range("input", -np.inf, 0.0),),))  # fmt: skip


def test_a_registered_fail_that_starts_raising_is_not_known(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(USER_CASES)
    cases, errors = load_cases([tmp_path / "c.yaml"])
    assert not errors
    adapter = bce_adapter(_raises, form="logits", name="test.raises")
    check = Check(adapter, cases[0], "float32", "cpu", "none")
    result = Runner([_accuracy_bug("fail")]).run(check)
    assert result.verdict is Verdict.ERROR and result.known_bug is None
    result = Runner([_accuracy_bug("error")]).run(check)
    assert result.known_bug is not None


def test_every_failing_element_must_meet_a_condition() -> None:
    bugs = [_accuracy_bug("fail")]
    fields = dict(adapter="test.raises", case="any/case", dtype="float32", device="cpu",
                  reduction="none", quantity="value", version="")  # fmt: skip
    elements = {"input": np.array([-10.0, 0.5]), "target": np.array([0.0, 1.0])}

    def explained(outside: list[bool] | None) -> KnownBug | None:
        mask = None if outside is None else np.array(outside)
        return explain(bugs, verdict="fail", elements=elements, outside=mask,
                       holds_at=lambda dtype: True, **fields)  # fmt: skip

    assert explained([True, False]) is bugs[0]
    assert explained([True, True]) is None  # x = 0.5 does not meet input <= 0
    assert explained(None) is bugs[0]  # a sum: one element meeting it is enough
    computed = KnownBug(adapter=("test.raises",), reason="r", link="l", computed_in="float32")
    assert explain([computed], verdict="fail", elements=elements, outside=None,
                   holds_at=lambda dtype: False, **fields) is None  # fmt: skip


@pytest.mark.parametrize(
    "when",
    [
        "{colour: [0, 1]}",
        "{input: [2, 1]}",
        "{input: [a, b]}",
        "[1, 2]",
        "{input: [.nan, 1]}",
        "[]",
        "{}",
    ],
)
def test_malformed_conditions_name_the_entry(tmp_path: Path, when: str) -> None:
    path = tmp_path / "bugs.yaml"
    path.write_text(f"- {{adapter: x, reason: r, link: 'https://e.org/1', when: {when}}}\n")
    with pytest.raises(KnownBugsError, match="entry 1"):
        load_known_bugs(path)


def test_a_kind_that_is_not_a_finding_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bugs.yaml"
    path.write_text(
        "- {adapter: x, when: {input: 0}, reason: r, link: 'https://e.org/1', verdict: slow}\n"
    )
    with pytest.raises(KnownBugsError, match="verdict"):
        load_known_bugs(path)


def test_alternatives_and_nan_conditions(tmp_path: Path) -> None:
    """A list of mappings holds where any holds; ``.nan`` holds on NaN elements only."""
    path = tmp_path / "bugs.yaml"
    when = "[{input: .nan}, {target: [1.5, .inf]}]"
    path.write_text(f"- {{adapter: x, reason: r, link: 'https://e.org/1', when: {when}}}\n")
    (bug,) = load_known_bugs(path)
    elements = {"input": np.array([np.nan, 0.5, 0.5]), "target": np.array([1.0, 2.0, 1.0])}
    met = bug.meets(elements)
    assert met is not None and met.tolist() == [True, True, False]


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            "{adapter: x, reason: r, link: 'https://e.org/1', case: c, when: {input: 0}}",
            "shown_by",
        ),
        (
            "{adapter: x, reason: r, link: 'https://e.org/1', case: c, shown_by: c}",
            "shown_by",
        ),
        ("{adapter: x, reason: r, link: 'https://e.org/1', case: c}", "no_condition"),
        (
            "{adapter: x, reason: r, link: 'https://e.org/1', when: {input: 0}, no_condition: n}",
            "no_condition",
        ),
    ],
)
def test_an_entry_that_names_cases_states_its_condition_or_why_not(
    tmp_path: Path, entry: str, message: str
) -> None:
    path = tmp_path / "bugs.yaml"
    path.write_text(f"- {entry}\n")
    with pytest.raises(KnownBugsError, match=message):
        load_known_bugs(path)


def test_shown_by_is_the_expectation_of_a_conditioned_entry(tmp_path: Path) -> None:
    path = tmp_path / "bugs.yaml"
    path.write_text(
        "- {adapter: a, reason: r, link: 'https://e.org/1', when: {input: 0}, shown_by: f/c}\n"
    )
    (bug,) = load_known_bugs(path)
    fields = dict(adapter="a", dtype="float32", device="cpu", reduction="none",
                  quantity="value", version="")  # fmt: skip
    assert bug.expects(case="f/c", **fields) and not bug.expects(case="f/other", **fields)
    assert bug.matches(case="f/other", **fields), "the condition recognises any case"
