"""Hostile case files: each gets one message naming the file, the line where there is one,
the case and the field, and every other case still runs. Real bytes, a real alias bomb
(refused in well under a second with bounded memory), real .npy files and links."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from conformance.cli import main
from conformance.engine import case_yaml
from conformance.engine.cases import MAX_ELEMENTS, load_cases
from conformance.reports.document import load_document

ALIAS_BOMB = "description: bomb\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['0.5'] * 9)}]\n"
    for i in range(10)
)  # 9**10 = 3.5 billion numbers once expanded, 10 lines of text


def test_not_utf8(one_error, good_case):
    _, error = one_error(good_case.replace("a valid", "caf\xe9").encode("latin-1"), "latin1.yaml")
    assert error.line == 4
    assert str(error) == (
        f"{error.file}:4: not UTF-8 text: byte 0xe9 at line 4, column 21 (save the file as UTF-8)"
    )


def test_binary_content(one_error):
    _, error = one_error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary.yaml")
    assert "binary content (a NUL byte)" in error.message and error.line == 3  # after 2 newlines


def test_file_over_the_size_limit(one_error, good_case):
    content = good_case + "# " + "x" * case_yaml.MAX_FILE_BYTES + "\n"
    _, error = one_error(content, "huge.yaml")
    assert f"over the {case_yaml.MAX_FILE_BYTES:,}-byte limit" in error.message


def test_alias_bomb_is_refused_fast_with_bounded_memory(one_error):
    tracemalloc.start()
    start = time.perf_counter()
    _, error = one_error(ALIAS_BOMB, "bomb.yaml")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "YAML aliases expand this document beyond 1,000,000 values" in error.message
    assert error.line == 8  # l6 = 9**7 = 4.8 million values is the first over the budget
    assert elapsed < 1.0, elapsed  # a bound on a refusal, not a speed target: 13 min before
    assert peak < 50 * 2**20, peak  # the bomb would need 100+ GiB; the refusal a few MiB


def test_recursive_alias(one_error):
    _, error = one_error("description: x\ncases: &c [*c]\n", "loop.yaml")
    assert "recursive YAML alias" in error.message and error.line == 2


def test_python_tags_are_never_constructed(one_error):
    _, error = one_error("!!python/object/apply:os.system ['echo pwned']\n", "evil.yaml")
    assert "could not determine a constructor" in error.message


def test_nan_where_a_finite_parameter_is_needed(one_error):
    text = """description: x
cases:
  - id: nan-std
    description: a generator with a NaN spread
    form: logits
    generate:
      seed: 1
      shape: [4]
      input: {distribution: normal, std: .nan}
      target: {distribution: bernoulli}
"""
    _, error = one_error(text, "nan.yaml")
    assert (error.case, error.field, error.line) == ("nan-std", "generate.input.std", 9)
    assert "NaN or infinity is not allowed here" in error.message


def test_absurd_generator_size_is_capped(one_error):
    text = """description: x
cases:
  - id: huge
    description: a trillion values
    form: logits
    generate: {seed: 1, shape: [1000000, 1000000], input: {distribution: normal},
               target: {distribution: bernoulli}}
"""
    start = time.perf_counter()
    _, error = one_error(text, "huge.yaml")
    assert time.perf_counter() - start < 1.0
    assert (error.case, error.field) == ("huge", "generate.shape")
    assert f"over the limit of {MAX_ELEMENTS:,} per array" in error.message


def test_duplicate_ids_across_files(tmp_path, good_case):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "same.yaml").write_text(good_case)
    (tmp_path / "two" / "same.yaml").write_text(good_case)
    cases, errors = load_cases([tmp_path / "one", tmp_path / "two"])
    assert [c.id for c in cases] == ["same/fine"]
    assert len(errors) == 1 and "duplicate id (also in" in errors[0].message
    assert errors[0].file == str(tmp_path / "two" / "same.yaml")


def _npy_case(good_case: str, name: str) -> str:
    return good_case.replace(
        "input: [0.5]\n    target: [1.0]", f"input: {{npy: {name}}}\n    target: [1.0]"
    )


def test_npy_data_file_beside_the_case_file_loads(tmp_path, good_case):
    np.save(tmp_path / "p.npy", np.array([0.25]))
    (tmp_path / "data.yaml").write_text(_npy_case(good_case, "p.npy"))
    cases, errors = load_cases([tmp_path])
    assert not errors
    from conformance.engine.dtypes import float_format

    assert cases[0].arrays(float_format("float64")).input.tolist() == [0.25]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("../outside.npy", "leads outside the case file's folder"),
        ("/etc/outside.npy", "is an absolute path"),
        ("link.npy", "leads outside the case file's folder"),
        ("objects.npy", "holds object values; give real numbers"),
        ("missing.npy", "cannot read 'missing.npy'"),
        ("fake.npy", "'fake.npy': "),
    ],
)
def test_npy_references_are_confined_and_read_without_pickle(
    tmp_path, one_error, good_case, reference, message
):
    folder = tmp_path / "cases"
    folder.mkdir()
    np.save(tmp_path / "outside.npy", np.array([0.25]))
    (folder / "link.npy").symlink_to(tmp_path / "outside.npy")
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "fake.npy").write_text("not an npy file")
    _, error = one_error(_npy_case(good_case, reference), "data.yaml", folder)
    assert (error.case, error.field) == ("fine", "input.npy")
    assert message in error.message, error.message
    assert error.line == 6


@pytest.mark.integration
def test_a_folder_of_broken_files_runs_to_the_end(tmp_path, capsys, good_case):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "good.yaml").write_text(good_case)
    (folder / "bomb.yaml").write_text(ALIAS_BOMB)
    (folder / "latin1.yaml").write_bytes("description: caf\xe9\n".encode("latin-1"))
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    (folder / "empty.yaml").write_text("")
    out = tmp_path / "r.json"
    args = ["run", "--output", str(out), "--cases", str(folder), "--adapters", "numpy.stable"]
    assert main([*args, "--devices", "cpu"]) == 1
    report = load_document(out)
    assert report["complete"] is True
    assert {c["case"] for c in report["checks"]} == {"good/fine"}
    assert len(report["case_errors"]) == 4
    err = capsys.readouterr().err
    for name in ("bomb.yaml:8", "latin1.yaml:1", "list.yaml", "empty.yaml"):
        assert name in err
