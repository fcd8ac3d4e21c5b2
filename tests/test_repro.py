"""Reproducers: each generated snippet is run in a fresh interpreter and must print what the
framework returned in the run, for a sample of non-passing checks of every framework
(NumPy, PyTorch, TensorFlow/Keras, JAX/optax, the Keras 3 backends, compiled modes)."""

from __future__ import annotations

import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.reports.document import load_report
from conformance.reports.records import CheckRecord, Report, from_json_float
from conformance.reports.repro import Reproducers, _shown
from conformance.vocabulary import Quantity, Verdict

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ",".join([
    "numpy.*", "torch.nn.functional.*", "torch.nn.BCELoss", "keras.losses.*", "tf.nn.*",
    "tf.function*", "optax.*", "jax.*", "keras.ops.*",
])  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Report:
    out = tmp_path_factory.mktemp("repro") / "run.json"
    cases = [f"--cases={ROOT / 'cases' / name}.yaml"
             for name in ("edge-probabilities", "extreme-logits", "weights")]  # fmt: skip
    main(["run", "--output", str(out), "--devices", "cpu", "--adapters", ADAPTERS,
          "--dtypes", "float32,bfloat16", *cases])  # fmt: skip
    return load_report(out)


def _sample(report: Report) -> list[CheckRecord]:
    """Per adapter and quantity, the first non-passing check that kept values (each
    snippet is a fresh interpreter importing its framework: seconds apiece)."""
    chosen: dict[tuple[str, Quantity], CheckRecord] = {}
    for check in report.checks:
        key = (check.key.adapter, check.key.quantity)
        shown = check.verdict in (Verdict.FAIL, Verdict.CONVENTION) and check.values
        if shown and key not in chosen:
            chosen[key] = check
    return list(chosen.values())


def _returned(snippet: str) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=600, cwd="/"
    )  # fmt: skip  (cwd: nothing of the suite importable)
    line = next((x for x in done.stdout.splitlines() if x.startswith("returned:")), None)
    assert line is not None, f"the snippet printed no result:\n{done.stderr[-3000:]}"
    return eval(line.split(":", 1)[1], {"nan": math.nan, "inf": math.inf})  # a list literal


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_snippets_reproduce_the_reported_values(run):
    sample = _sample(run)
    frameworks = {c.framework for c in sample}
    assert {"numpy", "torch", "tensorflow", "jax"} <= frameworks
    assert {"keras[jax]", "keras[torch]", "keras[tensorflow]", "keras[numpy]"} <= frameworks
    reproducers = Reproducers(run)
    snippets = {c.id: reproducers(c) for c in sample}
    assert all(snippets.values()), [i for i, s in snippets.items() if not s]
    with ThreadPoolExecutor(max_workers=2) as pool:
        returned = dict(zip(snippets, pool.map(_returned, snippets.values()), strict=True))
    wrong = []
    for check in sample:
        want = [from_json_float(e["got"]) for e in _shown(check)]
        got = returned[check.id]
        if len(got) != len(want) or not all(map(_same, got, want)):
            wrong.append(f"{check.id}: snippet {got} != report {want}")
    assert not wrong, "\n".join(wrong)


def test_a_minimal_snippet_keeps_only_the_elements_outside_tolerance(run):
    check = next(c for c in run.checks
                 if c.key.reduction == "none" and c.verdict is Verdict.FAIL and c.values
                 and 0 < c.values["outside_tolerance"] < c.values["compared"])  # fmt: skip
    snippet = Reproducers(run)(check)
    (x_line,) = [line for line in snippet.splitlines() if line.startswith("x = ")]
    assert x_line.count(",") + 1 == check.values["outside_tolerance"]
    assert "# returned on" in snippet and "print('correct: '" in snippet


def test_repro_without_a_report_runs_the_check_here(capsys):
    check_id = (
        "torch.nn.functional.binary_cross_entropy-cpu-float32-edge-probabilities/p-zero-target-one"
        ":none"
    )
    assert main(["repro", check_id]) == 0
    snippet = capsys.readouterr().out
    assert "torch.nn.functional.binary_cross_entropy(x_t, y_t, reduction='none')" in snippet
    assert _returned(snippet) == [100.0]  # the documented -100 clamp of log(0)


def test_repro_names_an_unknown_check(capsys):
    assert main(["repro", "no.such.adapter-cpu-float32-x/y:none"]) == 2
    assert "names no adapter" in capsys.readouterr().err


def test_text_from_case_files_stays_in_comments(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "sneaky.yaml").write_text(
        "description: a description that tries to add code to reproducers\n"
        "cases:\n"
        "  - id: zero\n"
        '    description: "p = 0\\nimport sys; sys.exit(7)\\r\\u2028raise SystemExit(8)"\n'
        "    form: probs\n"
        "    input: [0.0]\n"
        "    target: [0.0]\n"
    )
    out = tmp_path / "run.json"
    main(["run", "--output", str(out), "--devices", "cpu", "--adapters", "numpy.textbook",
          "--cases", str(cases)])  # fmt: skip
    report = load_report(out)
    check = next(c for c in report.checks if c.verdict is Verdict.FAIL)
    snippet = Reproducers(report)(check)
    assert "#   case:    p = 0 import sys; sys.exit(7)  raise SystemExit(8)\n" in snippet
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True)
    assert done.returncode == 0 and "returned: [nan]" in done.stdout
