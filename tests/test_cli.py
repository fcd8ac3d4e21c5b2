"""The CLI and pytest front ends, with cases and adapters written outside the project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.reports.document import load_document

ROOT = Path(__file__).resolve().parent.parent

USER_ADAPTERS = """
import numpy as np
from adapters import formulas
from adapters.base import Adapter, Conventions, Prepared


class UserLogits(Adapter):
    framework = "numpy"
    forms = frozenset({"logits"})
    supports_pos_weight = True
    api = "user's own BCE"

    def __init__(self, name, scale=1.0, floor=None):
        self.name, self.scale = name, scale
        self.floor = floor

    def prepare(self, call):
        return Prepared.direct(lambda: self._loss(call))

    def _loss(self, call):
        loss = formulas.stable_logits(np, call.input, call.target, call.pos_weight) * self.scale
        return formulas.reduce(loss, call.reduction, np.mean, np.sum)


class UserClampedProbs(Adapter):
    framework = "numpy"
    forms = frozenset({"probs"})
    api = "torch-like clamp written by a user"

    def __init__(self, name, declared):
        self.name = name
        if declared:
            self.conventions = Conventions(log_floor=-100.0)

    def prepare(self, call):
        return Prepared.direct(lambda: self._loss(call))

    def _loss(self, call):
        with np.errstate(divide="ignore"):
            lp = np.maximum(np.log(call.input), -100)
            lq = np.maximum(np.log1p(-call.input), -100)
        loss = -(call.target * lp + (1 - call.target) * lq)
        return formulas.reduce(loss, call.reduction, np.mean, np.sum)


ADAPTERS = [
    UserLogits("user.good"),
    UserLogits("user.off-by-1e-4", scale=1.0001),
    UserClampedProbs("user.clamp-declared", declared=True),
    UserClampedProbs("user.clamp-undeclared", declared=False),
]
"""

USER_CASES = """
description: a user's own cases
cases:
  - id: my-logits
    description: a few logits
    form: logits
    input: [-3.0, 0.25, 4.0]
    target: [0.0, 1.0, 1.0]
  - id: my-zero-prob
    description: p = 0 with y = 1
    form: probs
    input: [0.0, 0.5]
    target: [1.0, 1.0]
"""


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    (tmp_path / "user_bce.py").write_text(USER_ADAPTERS)
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "mine.yaml").write_text(USER_CASES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path, cases


def _run(tmp_path, *args):
    out = tmp_path / "report.json"
    code = main(["run", "--output", str(out), "--devices", "cpu", *args])
    return code, load_document(out)


def _verdicts(report, adapter, quantity="value"):
    return {
        c["verdict"]
        for c in report["checks"]
        if c["adapter"] == adapter and c["quantity"] == quantity
    }


@pytest.mark.integration
def test_user_cases_and_adapters_run_without_changing_the_code(user_files, capsys):
    tmp_path, cases = user_files
    code, report = _run(
        tmp_path, "--cases", str(cases), "--adapter", "user_bce:ADAPTERS", "--adapters", "user.*"
    )
    assert report["complete"] and not report["case_errors"]
    assert _verdicts(report, "user.good") == {"pass"}
    assert _verdicts(report, "user.off-by-1e-4") == {"fail"}  # the suite can fail
    assert "convention" in _verdicts(report, "user.clamp-declared")
    assert "fail" not in _verdicts(report, "user.clamp-declared")
    assert "fail" in _verdicts(report, "user.clamp-undeclared")  # undeclared clamp is a fail
    assert _verdicts(report, "user.good", "grad") == {"skip"}  # a loss-only adapter
    skipped = next(c for c in report["checks"] if c["quantity"] == "grad")
    assert "implements no gradient" in skipped["detail"]
    assert code == 1
    out = capsys.readouterr()
    assert "user.off-by-1e-4" in out.out and "FAIL: user.off-by-1e-4" in out.err


def test_bad_case_file_is_reported_and_the_rest_runs(user_files, capsys):
    tmp_path, cases = user_files
    (cases / "broken.yaml").write_text("description: x\ncases:\n  - id: oops\n    form: [\n")
    code, report = _run(tmp_path, "--cases", str(cases), "--adapters", "numpy.stable")
    assert code == 1
    assert len(report["case_errors"]) == 1 and "broken.yaml" in report["case_errors"][0]
    assert {c["case"] for c in report["checks"]} == {"mine/my-logits", "mine/my-zero-prob"}
    assert "case error:" in capsys.readouterr().err


@pytest.mark.integration
def test_shipped_matrix_for_numpy_writes_a_complete_report(tmp_path, capsys):
    code, report = _run(tmp_path, "--adapters", "numpy.*")
    assert code == 0, "every numpy fail must be a registered known deviation"
    assert report["complete"]
    assert set(report["summary"]) == {"numpy.textbook", "numpy.stable"}
    assert report["summary"]["numpy.stable"]["fail"] == 0
    assert report["runs"][0]["timing"]["checks"] == len(report["checks"]) > 500
    assert not list(tmp_path.glob(".report.json.*"))  # atomic write leaves no temp file
    table = capsys.readouterr().out
    assert "numpy.stable" in table and "checks in" in table


def test_unknown_adapter_glob_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--output", str(tmp_path / "r.json"), "--adapters", "nope*"]) == 2
    assert "no adapter matches nope*" in capsys.readouterr().err


def test_cases_validate(tmp_path, capsys):
    assert main(["cases", "validate"]) == 0
    (tmp_path / "bad.yaml").write_text("description: x\n")
    assert main(["cases", "validate", str(tmp_path)]) == 1
    assert "bad.yaml" in capsys.readouterr().out


def test_adapters_lists_every_adapter(capsys):
    assert main(["adapters"]) == 0
    out = capsys.readouterr().out
    assert "numpy.stable" in out and "torch.nn.BCELoss" in out


def _pytest_user(tmp_path: Path, cases: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = ["--cases", str(cases), "--adapter", "user_bce:ADAPTERS", "--adapters", "user.good"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_matrix.py", "-q",
         "-p", "no:cacheprovider", *args, "--devices", "cpu", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.integration
def test_pytest_front_end_takes_user_cases_and_adapters(user_files):
    tmp_path, cases = user_files
    result = _pytest_user(tmp_path, cases)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "3 passed" in result.stdout  # 1 case file x 2 dtypes + loader
    ids = _pytest_user(tmp_path, cases, "--collect-only").stdout
    assert "test_checks[user.good-cpu-float32-mine]" in ids


@pytest.mark.integration
def test_progress_lines_and_framework_logs_kept_out_of_the_terminal(tmp_path, capfd):
    args = ["--adapters", "numpy.stable,tf.nn.sigmoid_cross_entropy_with_logits",
            "--cases", "cases/extreme-logits.yaml"]  # fmt: skip
    code, _ = _run(tmp_path, *args)
    out, err = capfd.readouterr()
    assert code == 0
    assert re.search(r"\] numpy: \d+ checks done, 0 fail/error \(0 unexplained\)", out)
    assert re.search(r"\] tensorflow: \d+ checks done", out)  # not a terminal: plain lines
    log = tmp_path / "report.framework.log"
    assert "absl" in log.read_text() and "absl" not in err  # TensorFlow's C++ start-up lines
    assert f"lines in {log}" in out
    _run(tmp_path, *args, "--framework-logs")
    assert "absl" in capfd.readouterr().err


@pytest.mark.integration
def test_pytest_test_of_registered_bugs_only_is_an_xfail_with_the_link():
    """numpy.textbook on extreme logits fails only where known_bugs.yaml says it does: each
    case file's test is an xfail that names the entry's link, not a failure."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_matrix.py", "-q", "-rx",
         "-p", "no:cacheprovider", "--adapters", "numpy.textbook", "--devices", "cpu",
         "--dtypes", "float64", "--cases", "cases/extreme-logits.yaml", "-k", "test_checks"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 xfailed" in result.stdout
    assert "known: " in result.stdout and "sigmoid_cross_entropy_with_logits" in result.stdout
