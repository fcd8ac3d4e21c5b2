"""Third-party adapters in one line: plain functions, file paths, the example plug-in
package installed for real, and the adapter listing with sources, problems and duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters import bce_adapter
from adapters.function import FunctionAdapterError
from conformance.cli import main
from conformance.reports.document import load_document

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

HAND_WRITTEN = """
import numpy as np
from adapters import bce_adapter


@bce_adapter(form="logits", reductions=("none",), dtypes=("float64",), name="hand.logits")
def hand_logits(x, y):
    # right for x <= 0, but for x > 0 it drops the log1p term's exp(-x): wrong there
    return np.where(x > 0, (1 - y) * x, -y * x + np.log1p(np.exp(x)))
"""


def _report(path: Path) -> dict:
    return load_document(path)


@pytest.mark.integration
def test_a_hand_written_function_outside_the_repo_is_flagged_where_it_is_wrong(tmp_path):
    (tmp_path / "mine.py").write_text(HAND_WRITTEN)
    out = tmp_path / "r.json"
    code = main(["run", "--output", str(out), "--adapter", f"{tmp_path}/mine.py:hand_logits",
                 "--adapters", "hand.*", "--devices", "cpu"])  # fmt: skip
    report = _report(out)
    assert code == 1 and report["complete"]
    fails = [c for c in report["checks"] if c["verdict"] == "fail"]
    passes = [c for c in report["checks"] if c["verdict"] == "pass"]
    assert fails and passes
    assert "extreme-logits/x-plus-20" in {c["case"] for c in fails}  # log1p(exp(-20)) lost
    assert "extreme-logits/x-minus-20" in {c["case"] for c in passes}
    assert all(c["quantity"] == "value" for c in fails + passes)  # no grad= given: skipped


@pytest.mark.integration
def test_the_single_function_example_conforms_where_it_should(tmp_path):
    out = tmp_path / "r.json"
    spec = f"{EXAMPLES / 'my_bce.py'}:stable_bce"
    assert main(["run", "--output", str(out), "--adapter", spec, "--adapters", "my.*"]) == 0
    summary = _report(out)["summary"]["my.stable_bce"]
    assert summary["fail"] == summary["error"] == 0 and summary["pass"] > 400
    textbook = f"{EXAMPLES / 'my_bce.py'}:textbook_bce"
    assert main(["run", "--output", str(out), "--adapter", textbook, "--adapters", "my.*"]) == 1
    failing = {c["case"] for c in _report(out)["checks"] if c["verdict"] == "fail"}
    assert "edge-probabilities/p-zero-target-zero" in failing  # 0 * log 0 = NaN


def test_bce_adapter_reads_what_the_function_supports():
    def loss(p, y, weight=None, reduction="mean"):
        return 0.0

    adapter = bce_adapter(loss, form=("probs", "logits"), dtypes=("float16", "float64"))
    assert adapter.supports_weight and not adapter.supports_pos_weight
    assert adapter.reductions == frozenset({"none", "mean", "sum"})
    assert adapter.dtypes() == ["float16", "float64"] and not adapter.supports_grad
    assert adapter(np.ones(1), np.ones(1)) == 0.0  # still the user's function
    assert adapter.available() is None and adapter.version() == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "say which reduction the function computes"),
        ({"reductions": ("mean", "sum")}, "no 'reduction' parameter to tell them apart"),
        ({"reductions": ("avg",)}, "reductions ['avg'] not among none, mean, sum"),
        ({"reductions": ("mean",), "dtypes": ("float128",)}, "dtypes ['float128'] not among"),
        ({"reductions": ("mean",), "grad": lambda p, y, weight: 0}, "grad takes ['weight']"),
    ],
)
def test_bce_adapter_refuses_options_that_do_not_fit(options, message):
    def loss(p, y):
        return 0.0

    with pytest.raises(FunctionAdapterError, match=message.replace("[", r"\[")):
        bce_adapter(loss, **options)


def test_a_missing_requirement_makes_the_adapter_unavailable():
    adapter = bce_adapter(lambda p, y: 0.0, reductions=("mean",), requires=("no_such_lib_x",))
    assert adapter.available() == "no_such_lib_x not installed"


@pytest.mark.integration
def test_the_example_plugin_package_installs_and_runs_like_a_builtin(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(EXAMPLES / "external_adapter")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "adapters"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "example.fused_logits\n" in listing
    assert "from entry point example (example_bce_adapter:ADAPTERS)" in listing
    out = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--output", str(out),
         "--adapters", "example.*"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = _report(out)
    assert report["adapters"]["example.fused_logits"]["version"] == "0.1.0"
    assert report["summary"]["example.fused_logits"]["pass"] > 500
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_matrix.py", "-q", "-p",
         "no:cacheprovider", "--adapters", "example.*", "--dtypes", "float64", "-x"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert pytest_run.returncode == 0, pytest_run.stdout[-2000:]


def test_adapters_listing_shows_sources_problems_and_duplicates(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import no_such_module_for_bce\n")
    (tmp_path / "dup.py").write_text(
        "from adapters.numpy_bce import NumpyStable\nADAPTERS = [NumpyStable()]\n"
    )
    assert main(["adapters", "--adapter", f"{tmp_path}/broken.py:X",
                 "--adapter", f"{tmp_path}/dup.py:ADAPTERS"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "not loaded: --adapter" in out
    assert "ModuleNotFoundError: No module named 'no_such_module_for_bce'" in out
    assert "Traceback" not in out
    assert "warning: adapter name 'numpy.stable' from --adapter" in out
    assert "is already provided by built-in adapters.numpy_bce" in out
    assert "numpy.stable\n" in out and "from built-in adapters.numpy_bce" in out
    assert "forms logits, probs; dtypes float16, bfloat16, float32, float64; devices cpu" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtypes", "float8"], "unknown float8; choose from float16, bfloat16, float32, float64"),
        (["--devices", "tpu"], "unknown tpu; choose from cpu, gpu"),
        (["--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
        (["--timeout", "0"], "give a positive, finite number of seconds"),
        (["--jobs", "-1"], "-1 is below 0"),
    ],
)
def test_unknown_choices_list_the_valid_ones(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--output", str(tmp_path / "r.json"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_adapter_names_list_the_known_ones(tmp_path, capsys):
    assert main(["run", "--output", str(tmp_path / "r.json"), "--adapters", "nope*"]) == 2
    assert "no adapter matches nope*; known: torch.nn.BCELoss" in capsys.readouterr().err


def test_an_unwritable_report_path_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "--output", str(blocker / "report.json")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the report to {blocker / 'report.json'}" in err
    assert main(["run", "--output", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_a_spec_that_does_not_load_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--output", str(tmp_path / "r.json"), "--adapter", "nofile.py:f"]) == 2
    assert "no such file 'nofile.py'" in capsys.readouterr().err


def test_a_spec_that_hangs_at_import_is_a_usage_error_naming_it(tmp_path, capsys, monkeypatch):
    from adapters import registry

    hanging = tmp_path / "hangs_at_import.py"
    hanging.write_text("import time\n\ntime.sleep(3600)\n")
    monkeypatch.setattr(registry, "IMPORT_TIMEOUT_S", 1.0)
    spec = f"{hanging}:anything"
    assert main(["run", "--output", str(tmp_path / "r.json"), "--adapter", spec]) == 2
    err = capsys.readouterr().err
    assert f"{hanging}:anything: importing it did not finish in 1 s" in err
