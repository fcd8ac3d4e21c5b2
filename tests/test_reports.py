"""The JSON report (schema 3), its values, and the report commands: report, compare, merge.

Every report here comes from a real run of the suite (NumPy adapters: seconds), and every
one is read back through ``load_document``, which validates it against the shipped schema
(``load_report`` reads it on into the typed ``Report``). A test that edits a report edits
its JSON, then writes the ``Report`` it reads back as.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path

import jsonschema
import pytest

from conformance.cli import main
from conformance.engine.evidence import ALL_VALUES_UP_TO, WORST_ELEMENTS
from conformance.reports.disagreements import disagreements
from conformance.reports.document import (
    SCHEMA_PATH,
    ReportError,
    load_document,
    load_report,
    write_report,
)
from conformance.reports.records import CheckRecord, Report

CORRECT = """
import numpy as np
from adapters import bce_adapter

@bce_adapter(name="test.bce", form="probs", reductions=("none",))
def bce(p, y):
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))
"""
WRONG = CORRECT.replace("np.log1p(-p)", "np.log1p(-p) * 1.001")  # off by 0.1%


def _run(out: Path, *args: str) -> dict:
    main(["run", "--output", str(out), "--devices", "cpu", *args])
    return load_document(out)


def _check(report: dict, check_id: str) -> dict:
    return next(c for c in report["checks"] if c["id"] == check_id)


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "numpy.json"
    return out, _run(out, "--adapters", "numpy.*")


def test_the_schema_is_a_valid_draft_7_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.integration
def test_a_passing_check_keeps_the_reference_and_the_framework_value(numpy_run):
    _, report = numpy_run
    check = _check(report, "numpy.stable-cpu-float64-edge-probabilities/p-half:none")
    assert check["verdict"] == "pass"
    elements = check["values"]["elements"]
    assert [(e["input"], e["target"]) for e in elements] == [(0.5, 0.0), (0.5, 1.0)]
    for element in elements:
        assert element["expected"] == 0.6931471805599453  # log 2 rounded to float64
        assert element["got"] == element["expected"]


def test_a_failing_check_keeps_its_values_and_registry_link(numpy_run):
    _, report = numpy_run
    check = _check(report, "numpy.textbook-cpu-float32-edge-probabilities/p-zero-target-zero:none")
    assert check["verdict"] == "fail" and check["error_ulps"] == "inf"
    nan_where_zero = {"got": "nan", "expected": 0.0, "error_ulps": "inf"}
    element = {"index": 0, "input": 0.0, "target": 0.0, **nan_where_zero}
    assert check["values"]["elements"] == [element]
    assert check["known_bug"]["link"].startswith("https://")


def test_a_large_array_keeps_only_its_worst_elements(numpy_run):
    _, report = numpy_run
    check = next(c for c in report["checks"]
                 if c["adapter"] == "numpy.textbook" and c["case"] == "random-bulk/wide-logits"
                 and c["reduction"] == "none" and c["dtype"] == "float32")  # fmt: skip
    values = check["values"]
    assert values["compared"] == 1024 > ALL_VALUES_UP_TO and not values["all_elements"]
    errors = [float(e["error_ulps"]) for e in values["elements"]]
    assert len(errors) == WORST_ELEMENTS and errors == sorted(errors, reverse=True)
    assert float(values["median_error_ulps"]) <= errors[-1]


def test_the_environment_names_versions_cpu_and_hashes(numpy_run):
    _, report = numpy_run
    (environment,) = report["machines"].values()
    assert environment["packages"]["numpy"]
    assert environment["cpu"]["model"] and environment["suite"]["commit"]
    assert len(environment["cases_sha256"]) == len(environment["known_bugs_sha256"]) == 64


def test_a_report_reads_back_into_records_that_write_the_same_document(numpy_run, tmp_path):
    path, document = numpy_run
    report = load_report(path)
    assert report.checks[0] == CheckRecord.from_json(document["checks"][0])
    write_report(tmp_path / "again.json", report)
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_gzip_reports_round_trip(numpy_run, tmp_path):
    path, document = numpy_run
    write_report(tmp_path / "run.json.gz", load_report(path))
    assert gzip.decompress((tmp_path / "run.json.gz").read_bytes())
    assert load_document(tmp_path / "run.json.gz") == document
    assert load_report(tmp_path / "run.json.gz") == load_report(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b'{"schema_version": 3, "checks": [', "truncated"),
        (b"[1, 2]", "not a bce-conformance report"),
        (b'{"schema_version": 2, "checks": []}', "schema version 2"),
        (b'{"schema_version": 3}', "not a valid report"),
        (b"\x89PNG\r\n", "not UTF-8"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReportError, match=message):
        load_report(path)


def test_compare_identical_reports_is_not_a_regression(numpy_run, capsys):
    path, _ = numpy_run
    assert main(["compare", str(path), str(path)]) == 0
    assert "no regression" in capsys.readouterr().out


@pytest.mark.integration
def test_compare_catches_an_edited_verdict(numpy_run, tmp_path, capsys):
    path, report = numpy_run
    worse = copy.deepcopy(report)
    target = next(c for c in worse["checks"] if c["verdict"] == "pass")
    target["verdict"] = "fail"
    write_report(tmp_path / "worse.json", Report.from_json(worse))
    assert main(["compare", str(path), str(tmp_path / "worse.json")]) == 1
    out = capsys.readouterr().out
    assert f"{target['id']}: pass -> fail" in out and "REGRESSED" in out


@pytest.mark.integration
def test_compare_catches_a_wrong_adapter(tmp_path, capsys):
    for name, source in (("good", CORRECT), ("bad", WRONG)):
        (tmp_path / f"{name}.py").write_text(source)
        _run(tmp_path / f"{name}.json", "--adapter", f"{tmp_path / name}.py:bce",
             "--adapters", "test.*", "--cases", "cases/edge-probabilities.yaml")  # fmt: skip
    assert main(["compare", str(tmp_path / "good.json"), str(tmp_path / "bad.json")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION verdict worse" in out and "test.bce-cpu-float64" in out


def test_compare_refuses_a_truncated_report(numpy_run, tmp_path, capsys):
    path, _ = numpy_run
    cut = tmp_path / "cut.json"
    cut.write_bytes(path.read_bytes()[:5000])
    assert main(["compare", str(path), str(cut)]) == 2
    assert "truncated" in capsys.readouterr().err


@pytest.mark.integration
def test_two_shards_merge_into_the_single_run(numpy_run, tmp_path):
    _, single = numpy_run
    for shard in ("numpy.stable", "numpy.textbook"):
        _run(tmp_path / f"{shard}.json", "--adapters", shard)
    out = tmp_path / "all.json"
    shards = [str(tmp_path / f"{s}.json") for s in ("numpy.stable", "numpy.textbook")]
    assert main(["merge", *shards, "-o", str(out)]) == 0
    merged = load_document(out)
    assert {c["id"]: c["verdict"] for c in merged["checks"]} == {
        c["id"]: c["verdict"] for c in single["checks"]
    }
    assert merged["complete"] and merged["findings"] == []
    assert merged["summary"] == single["summary"]


@pytest.mark.integration
def test_merge_refuses_reports_of_different_case_files(numpy_run, tmp_path, capsys):
    path, report = numpy_run
    other = copy.deepcopy(report)
    for environment in other["machines"].values():
        environment["cases_sha256"] = "0" * 64
    write_report(tmp_path / "other.json", Report.from_json(other))
    out = tmp_path / "all.json"
    assert main(["merge", str(path), str(tmp_path / "other.json"), "-o", str(out)]) == 2
    assert "different case files" in capsys.readouterr().err and not out.exists()
    args = ["merge", str(path), str(tmp_path / "other.json"), "-o", str(out)]
    assert main([*args, "--allow-different-cases"]) == 0
    assert "different case files" in load_report(out).merge_notes[0]


def test_the_same_check_disagreeing_across_devices_is_a_finding(numpy_run):
    _, report = numpy_run
    cpu = next(c for c in report["checks"]
               if c["verdict"] == "pass" and c["values"] and c["values"]["all_elements"]
               and c["quantity"] == "value" and c["dtype"] == "float32" and c["reduction"] == "none"
               and 0.1 < float(c["values"]["elements"][0]["got"]) < 1e6)  # fmt: skip
    gpu = copy.deepcopy(cpu)
    gpu.update(id=cpu["id"].replace("-cpu-", "-gpu-"), device="gpu", machine="gpu-runner")

    def found():
        return disagreements([CheckRecord.from_json(cpu), CheckRecord.from_json(gpu)])

    assert found() == []  # the same values: no finding
    element = gpu["values"]["elements"][0]
    element["got"] = float(element["got"]) * (1 + 2**-10)  # ~8000 float32 ULP away
    (finding,) = found()
    assert finding["kind"] == "device-disagreement" and "ULP apart" in finding["detail"]
    gpu["verdict"] = "fail"
    assert "pass vs fail" in found()[0]["detail"]


def test_markdown_summary_lists_adapters_and_escapes_markup(numpy_run, tmp_path, capsys):
    _, report = numpy_run
    edited = copy.deepcopy(report)
    check = next(c for c in edited["checks"] if c["verdict"] == "pass")
    check.update(verdict="fail", detail="<script>alert(1)</script> | broken", known_bug=None)
    write_report(tmp_path / "edited.json", Report.from_json(edited))
    assert main(["report", str(tmp_path / "edited.json"), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| `numpy.stable` | 100.0% |" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| broken" in text
    outside_code = re.sub(r"^(`{3,})python\n.*?^\1$", "", text, flags=re.S | re.M)
    assert "<script>" not in outside_code  # inside a code block it is shown, not run


def test_the_committed_example_report_is_valid():
    report = load_report(Path(__file__).resolve().parents[1] / "reports/examples/quick.json")
    assert report.complete and len(report.checks) > 1000


@pytest.mark.integration
def test_the_same_code_eager_and_traced_is_compared_side_by_side(tmp_path):
    """Keras recovers logits from a graph's Sigmoid op, not from an eager tf.nn.sigmoid
    tensor: one case of large logits gives a mode disagreement between the two."""
    cases = tmp_path / "modes.yaml"
    cases.write_text(
        "description: eager against traced\ncases:\n"
        "  - {id: large, description: large logits, form: logits,"
        " input: [20.0, -20.0, 3.0], target: [0.0, 1.0, 1.0], reductions: [none]}\n"
    )
    eager, traced = (
        "tf.nn.sigmoid+BinaryCrossentropy",
        "tf.function(tf.nn.sigmoid+BinaryCrossentropy)",
    )
    report = _run(tmp_path / "modes.json", "--cases", str(cases), "--dtypes", "float32",
                  "--adapters", f"{eager},{traced}")  # fmt: skip
    assert report["adapters"][traced]["same_code_as"] == eager
    found = {f["check"]: f for f in report["findings"] if f["kind"] == "mode-disagreement"}
    value = found[f"{traced}-cpu-float32-modes/large:none"]
    assert value["between"] == [f"{eager}-cpu-float32-modes/large:none", value["check"]]
    assert "element 0" in value["detail"] and "20.0" in value["detail"]
