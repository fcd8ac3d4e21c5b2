"""Contracts: a rule can fail a check only when the adapter declares it. Correct BCE
functions written here, independent of the suite's formulas (softplus on logits, xlogy and
log1p on probabilities, in float64, with the Keras-style options: label smoothing, an axis,
per-sample weights and the weighted mean, and targets of any dtype), declaring nothing,
run through every shipped case file
with no fail and no error, each as a ``bce_adapter`` function, as an ``Adapter`` class and
from an installed plug-in package; opting in to a result dtype or a range check makes a
broken promise fail again, citing the declaration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import log_expit, xlog1py, xlogy

from adapters.base import Adapter
from adapters.calls import ALL_REDUCTIONS, TARGET_DTYPES, Call, Prepared
from adapters.function import bce_adapter
from conformance.application import RunSpec, run_conformance

ROOT = Path(__file__).resolve().parents[1]
DTYPES = ("float32", "float64")


def _as64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _softplus_logits(x, y):
    """y softplus(-x) + (1 - y) softplus(x), each term 0 where its weight is 0."""
    x, y = _as64(x, y)
    with np.errstate(all="ignore"):
        positive = np.where(y == 0, 0.0, -y * log_expit(x))
        negative = np.where(y == 1, 0.0, -(1 - y) * log_expit(-x))
    return positive + negative


def _xlogy_probs(p, y):
    """-(y log p + (1 - y) log(1 - p)) with xlogy's 0 log 0 = 0 (xlog1py for the
    complement: xlogy(1 - y, 1 - p) would lose every loss below 1e-16 to 1 - p = 1)."""
    p, y = _as64(p, y)
    with np.errstate(all="ignore"):
        return -(xlogy(y, p) + xlog1py(1 - y, -p))


def _log1p_probs(p, y):
    """The same with log1p(-p) for the complement."""
    p, y = _as64(p, y)
    with np.errstate(all="ignore"):
        first = np.where(y == 0, 0.0, y * np.log(p))
        second = np.where(y == 1, 0.0, (1 - y) * np.log1p(-p))
    return -(first + second)


def _mean(elementwise):
    """The element losses with the Keras-style options: smoothed targets, the mean over
    ``axis``, one weight per sample on the leading axes, then the reduction."""

    def loss(x, y, reduction="mean", label_smoothing=0.0, axis=None, sample_weight=None):
        x, y = _as64(x, y)
        values = elementwise(x, y * (1 - label_smoothing) + label_smoothing / 2)
        if axis is not None:
            values = np.mean(values, axis=axis)
        weights = np.ones(values.shape)
        if sample_weight is not None:
            given = np.asarray(sample_weight, dtype=np.float64)
            given = given.reshape(given.shape[: values.ndim])  # a column (N, 1) over N losses
            leading = given.reshape(given.shape + (1,) * (values.ndim - given.ndim))
            weights = np.broadcast_to(leading, values.shape)
            values = np.where(weights == 0, 0.0, values * weights)  # 0 * inf: the limit 0
        with np.errstate(all="ignore"):  # the mean of nothing, 0 / 0: NaN
            reduced = {
                "none": values,
                "mean": np.sum(values) / values.size,
                "sum": np.sum(values),
                "weighted_mean": np.sum(values) / np.sum(weights),
            }
        return reduced[reduction]

    return loss


PROMISING = bce_adapter(
    _mean(_log1p_probs), form="probs", dtypes=DTYPES, name="mine.promising",
    result_dtype="input", domain="raises",
)  # fmt: skip
"""The log1p form declaring what it does not do: keep the input's dtype, raise on invalid
input. Its float64 results for float32 input, and its values on invalid input, fail."""


class MineAsClass(Adapter):
    """The same function as a class, as a user subclasses ``Adapter``: it declares nothing
    either (no result dtype, no formula, no domain)."""

    framework = "numpy"
    supports_weight = False  # it takes no weight (the default says it does)
    supports_label_smoothing = supports_axis = supports_sample_weight = True
    reductions = frozenset(ALL_REDUCTIONS)
    target_dtypes = frozenset(TARGET_DTYPES)  # it reads every array as float64

    def __init__(self, name: str, elementwise, form: str) -> None:
        self.name, self.elementwise, self.forms = name, elementwise, frozenset({form})

    def dtypes(self) -> list[str]:
        return list(DTYPES)

    def prepare(self, call: Call) -> Prepared:
        return Prepared.direct(lambda: self._loss(call))

    def _loss(self, call: Call):
        return _mean(self.elementwise)(
            call.input,
            call.target,
            call.reduction,
            call.label_smoothing,
            call.axis,
            call.sample_weight,
        )


ELEMENTWISE = {"softplus": (_softplus_logits, "logits"), "xlogy": (_xlogy_probs, "probs"),
               "log1p": (_log1p_probs, "probs")}  # fmt: skip
CORRECT = [
    *(bce_adapter(_mean(f), form=form, dtypes=DTYPES, name=f"mine.{name}",
                  reductions=ALL_REDUCTIONS, target_dtypes=TARGET_DTYPES)
      for name, (f, form) in ELEMENTWISE.items()),
    *(MineAsClass(f"mine.class.{name}", f, form) for name, (f, form) in ELEMENTWISE.items()),
]  # fmt: skip


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict[str, dict[str, int]]:
    module = tmp_path_factory.mktemp("mine") / "mine_bce.py"
    module.write_text("from tests.test_contracts import CORRECT, PROMISING\n")
    spec = RunSpec(
        adapter_globs=["mine.*"], devices=["cpu"],
        extra_adapters=[f"{module}:CORRECT", f"{module}:PROMISING"],
        cache_dir=None,
    )  # fmt: skip
    run = run_conformance(spec)
    counts: dict[str, dict[str, int]] = {}
    for result in run.outcome.results:
        by = counts.setdefault(result.check.adapter.name, {})
        by[result.verdict.value] = by.get(result.verdict.value, 0) + 1
        new_cases = ("keras-options.yaml", "mixed-dtypes.yaml")
        if result.check.case.file.endswith(new_cases) and result.verdict.value == "pass":
            by["options passed"] = by.get("options passed", 0) + 1
        if result.verdict.value in ("fail", "error"):
            by.setdefault("examples", []).append(f"{result.check.id}: {result.judgement.detail}")
    return counts


@pytest.mark.integration
@pytest.mark.parametrize("name", [a.name for a in CORRECT])
def test_correct_functions_that_declare_nothing_raise_no_alarm(verdicts, name):
    seen = verdicts[name]
    assert seen.get("pass", 0) > 100
    assert seen.get("options passed", 0) > 20  # the options' and dtype mixes' cases ran
    assert "fail" not in seen and "error" not in seen, seen.get("examples", [])[:10]


def test_a_declared_promise_is_held_and_cited(verdicts):
    seen = verdicts["mine.promising"]
    examples = "\n".join(seen["examples"])
    assert "returned float64 for float32 input" in examples
    assert "result_dtype='input'" in examples  # the verdict cites the declaration
    assert "declares a range check but returned" in examples
    assert all("float32" in line or "invalid" in line for line in seen["examples"])


def test_every_builtin_adapter_declares_its_result_dtype_with_a_source():
    from adapters.registry import builtin_adapters

    for adapter in builtin_adapters():
        assert adapter.result_dtype == "input", adapter.name
        assert adapter.result_dtype_source.startswith("https://"), adapter.name


def test_a_function_declares_nothing_by_default():
    adapter = CORRECT[0]
    assert adapter.result_dtype is None and not adapter.formula_declared
    assert not adapter.conventions.documented_domain
    assert not adapter.conventions.checks_probability_range


PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "mine-bce-plugin"
version = "0.1.0"

[project.entry-points."bce_conformance.adapters"]
mine = "mine_bce_plugin:ADAPTERS"
"""
PLUGIN_MODULE = """\
from adapters.function import bce_adapter
from tests.test_contracts import DTYPES, ELEMENTWISE, _mean

ADAPTERS = [
    bce_adapter(_mean(f), form=form, dtypes=DTYPES, name=f"mine.plugin.{name}")
    for name, (f, form) in ELEMENTWISE.items()
]
"""


@pytest.mark.integration
def test_correct_functions_in_an_installed_plugin_package_raise_no_alarm(tmp_path):
    """The third route: a package whose entry point lists the same correct functions,
    installed (pip, into a folder on PYTHONPATH) and found with no option at all."""
    import json
    import os
    import subprocess
    import sys

    package = tmp_path / "package"
    (package / "mine_bce_plugin").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (package / "mine_bce_plugin" / "__init__.py").write_text(PLUGIN_MODULE)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(package)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--output", str(out), "--devices",
         "cpu", "--adapters", "mine.plugin.*", "--no-cache"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    checks = json.loads(out.read_text())["checks"]
    assert {c["adapter"] for c in checks} == {f"mine.plugin.{n}" for n in ELEMENTWISE}
    alarms = [f"{c['id']}: {c['detail']}" for c in checks if c["verdict"] in ("fail", "error")]
    assert not alarms, alarms[:10]
    assert sum(c["verdict"] == "pass" for c in checks) > 300


BROADCAST_CASES = """\
description: a user's case file whose targets broadcast against the inputs
cases:
  - id: column-target
    description: a (2, 1) target with a (2, 3) input.
    form: probs
    input: [[0.2, 0.5, 0.7], [0.1, 0.4, 0.9]]
    target: [[1.0], [0.0]]
    expect: {error: shape-mismatch}
  - id: row-target-logits
    description: a (3,) target with a (2, 3) input, from logits.
    form: logits
    input: [[0.5, -1.0, 2.0], [1.0, 0.0, -2.0]]
    target: [1.0, 0.0, 1.0]
    expect: {error: shape-mismatch}
  - id: trailing-axis-target
    description: a (2, 1) target with a (2,) input, as Keras users write labels.
    form: logits
    input: [0.5, -1.0]
    target: [[1.0], [0.0]]
    expect: {error: shape-mismatch}
"""


@pytest.mark.integration
def test_broadcastable_shapes_follow_each_apis_declared_shape_rule(tmp_path):
    """NumPy's formulas and optax broadcast, as their sources say: a convention citing it,
    never an error; PyTorch and tf.nn declare equal shapes and raise: a pass. Keras losses
    align a trailing size-1 axis (a (2, 1) target with a (2,) input: a convention citing
    the source) and raise on other shapes (a pass)."""
    (tmp_path / "broadcast.yaml").write_text(BROADCAST_CASES)
    spec = RunSpec(
        adapter_globs=["numpy.*", "optax.*", "torch.nn.functional.*", "tf.nn.sigmoid*",
                       "keras.losses.*"],
        case_paths=[tmp_path], devices=["cpu"], cache_dir=None,
    )  # fmt: skip
    results = run_conformance(spec).outcome.results
    ran = [r for r in results if r.verdict.value != "skip"]
    assert ran and not [r for r in ran if r.verdict.value in ("fail", "error")]
    for result in ran:
        adapter = result.check.adapter
        aligned = result.check.case.id.endswith("trailing-axis-target")
        if adapter.shape_rule == "broadcast":
            assert result.verdict.value == "convention", result.judgement.detail
            assert adapter.shape_rule_source in result.judgement.detail
        elif adapter.shape_rule == "trailing-one" and aligned:
            assert result.verdict.value == "convention", result.judgement.detail
            assert "aligned a trailing size-1 axis" in result.judgement.detail
        else:
            assert result.verdict.value == "pass", (result.check.id, result.judgement.detail)
    frameworks = {r.check.adapter.framework for r in ran}
    assert {"numpy", "jax", "torch", "tensorflow"} <= frameworks
    rules = {r.check.adapter.shape_rule for r in ran}
    assert {"broadcast", "equal", "trailing-one"} <= rules
