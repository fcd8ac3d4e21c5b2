"""The case loader against malformed files: one clear message each (file, case, field),
and every good case of every file still loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.engine.cases import CASES_DIR, CaseFileError, load_cases, parse_value
from conformance.engine.dtypes import float_format


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_yaml_syntax_error(one_error):
    _, error = one_error("description: x\ncases: [\n  - id: broken\n")
    assert "YAML syntax error at line" in str(error)


def test_unknown_field(one_error, good_case):
    text = good_case.replace("form: probs", "form: probs\n    colour: blue").replace("fine", "c1")
    _, error = one_error(text)
    assert (error.case, error.field) == ("c1", "colour")
    assert "unknown field" in error.message
    assert error.line == 6  # the line of the unknown field
    assert str(error) == f"{error.file}:6: case 'c1': field 'colour': {error.message}"


def test_wrong_type(one_error, good_case):
    _, error = one_error(good_case.replace("form: probs", "form: 3").replace("fine", "c2"))
    assert (error.case, error.field) == ("c2", "form")


def test_wrong_type_in_values(one_error, good_case):
    text = good_case.replace("input: [0.5]", "input: [{a: 1}]").replace("fine", "c3")
    _, error = one_error(text)
    assert (error.case, error.field) == ("c3", "input[0]")
    assert "wrong type" in error.message


def test_mismatched_shapes(one_error, good_case):
    text = good_case.replace("target: [1.0]", "target: [1.0, 0.0]").replace("fine", "c4")
    _, error = one_error(text)
    assert (error.case, error.field) == ("c4", "target")
    assert "(2,)" in error.message and "(1,)" in error.message


def test_weight_that_does_not_broadcast(one_error, good_case):
    text = good_case.replace("target: [1.0]", "target: [1.0]\n    weight: [1.0, 2.0]")
    _, error = one_error(text.replace("fine", "c5"))
    assert (error.case, error.field) == ("c5", "weight")


def test_unparseable_value(one_error, good_case):
    _, error = one_error(good_case.replace("[0.5]", '["half"]').replace("fine", "c6"))
    assert (error.case, error.field) == ("c6", "input")
    assert "'half' is not a number" in error.message


def test_pos_weight_on_probabilities(one_error, good_case):
    text = good_case.replace("target: [1.0]", "target: [1.0]\n    pos_weight: [2.0]")
    _, error = one_error(text.replace("fine", "c7"))
    assert error.field == "pos_weight"


def test_missing_values_and_generator(one_error, good_case):
    text = good_case.replace("    input: [0.5]\n    target: [1.0]\n", "").replace("fine", "c8")
    _, error = one_error(text)
    assert error.case == "c8"
    assert "'generate'" in error.message


def test_bad_case_does_not_drop_its_neighbours(one_error, good_case):
    text = good_case + good_case.split("cases:\n")[1].replace("fine", "second").replace(
        "0.5", "bad"
    )
    cases, error = one_error(text)
    assert "bad/fine" in {c.id for c in cases}
    assert error.case == "second"


def test_duplicate_ids_across_a_file(one_error, good_case):
    text = good_case + good_case.split("cases:\n")[1]
    _, error = one_error(text)
    assert (error.case, error.field) == ("bad/fine", "id")


def test_document_level_error(one_error):
    _, error = one_error("description: no cases here\n")
    assert error.case is None and error.field == "cases"


def test_strict_mode_raises_with_every_message(tmp_path):
    _write(tmp_path, "bad.yaml", "cases: [")
    with pytest.raises(CaseFileError, match="YAML syntax error"):
        load_cases([tmp_path], strict=True)


def test_yaml_is_loaded_safely(tmp_path):
    _write(tmp_path, "evil.yaml", "!!python/object/apply:os.system ['echo pwned']\n")
    _, errors = load_cases([tmp_path])
    assert len(errors) == 1 and "YAML syntax error" in str(errors[0])


def test_shipped_cases_are_valid_and_numerous():
    cases, errors = load_cases([CASES_DIR])
    assert not errors, [str(e) for e in errors]
    assert len(cases) >= 60
    assert len({c.id for c in cases}) == len(cases)


def test_dtype_relative_names():
    assert parse_value("smallest_subnormal", "float32") == 2.0**-149
    assert parse_value("-max", "float64") == -np.finfo(np.float64).max
    assert parse_value("largest_below_one", "float32") == 1 - 2.0**-24
    assert parse_value("0x1p-3", "float64") == 0.125
    assert parse_value("1e-40", "float64") == 1e-40


def test_generated_values_are_reproducible():
    cases, _ = load_cases([CASES_DIR / "random-bulk.yaml"])
    case = next(c for c in cases if c.id == "random-bulk/uniform-probs")
    fmt = float_format("float32")
    first = case.arrays(fmt).input.copy()
    from conformance.engine.cases import _materialise

    _materialise.cache_clear()
    np.testing.assert_array_equal(case.arrays(fmt).input, first)
    assert first.shape == (32, 32) and first.min() >= 0 and first.max() < 1


def test_the_fast_schema_check_understands_every_keyword_the_schema_uses():
    """Files the fast validator accepts are not validated again: the case schema must stay
    within the keywords fastjsonschema implements as JSON Schema 2020-12 defines them."""
    import json

    from conformance.engine.cases import SCHEMA_PATH

    alike = {
        "$defs", "$id", "$ref", "$schema", "additionalProperties", "anyOf", "description",
        "enum", "maxItems", "maxLength", "maximum", "minItems", "minLength", "minimum",
        "not", "oneOf", "pattern", "properties", "required", "title", "type", "uniqueItems",
        "items",
    }  # fmt: skip
    used: set[str] = set()

    def walk(node, names_only=False):
        if isinstance(node, dict):
            for key, value in node.items():
                if not names_only:
                    used.add(key)
                    if key == "items":
                        assert isinstance(value, dict), "tuple-form items differ in 2020-12"
                walk(value, not names_only and key in ("properties", "$defs"))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(SCHEMA_PATH.read_text()))
    assert used <= alike, used - alike


@pytest.mark.parametrize(
    "addition, field, words",
    [
        ("axis: 2", "axis", "not an axis of input shape (1,)"),
        ("axis: 0\n    sample_weight: [1.0, 2.0]", "sample_weight", "losses of shape ()"),
        ("sample_weight: [1.0, 2.0]", "sample_weight", "aligned with their leading axes"),
        ("label_smoothing: 1.5", "label_smoothing", "1.5"),
        ("target_dtype: int8", "target_dtype", "int8"),
    ],
)
def test_options_out_of_place(one_error, good_case, addition, field, words):
    """Each option's own mistakes name the file, the case and the option."""
    text = good_case.replace("target: [1.0]", f"target: [1.0]\n    {addition}")
    _, error = one_error(text.replace("fine", "opt"))
    assert (error.case, error.field) == ("opt", field), str(error)
    assert words in error.message, error.message


def test_whole_number_targets_hold_whole_numbers(one_error, good_case):
    text = good_case.replace("target: [1.0]", "target: [0.5]\n    target_dtype: bool")
    _, error = one_error(text.replace("fine", "labels"))
    assert (error.case, error.field) == ("labels", "target")
    assert "a bool target holds 0 or 1" in error.message
