"""The known-bug registry: loading, matching by glob and version, malformed files."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conformance.known_bugs import SCHEMA_PATH, KnownBugsError, find, load_known_bugs

ENTRY = """
- adapter: [torch.*, optax.*]
  case: extreme-logits/x-minus-*
  dtype: float32
  versions: ">=2.0,<3"
  no_condition: a test entry matched by its globs
  reason: cancellation
  link: https://example.org/issue/1
"""


def _find(bugs, **overrides):
    query = dict(
        adapter="torch.nn.BCELoss",
        case="extreme-logits/x-minus-20",
        dtype="float32",
        device="cpu",
        reduction="none",
        quantity="value",
        version="2.13.0",
    )
    query.update(overrides)
    return find(bugs, **query)


def test_matching(tmp_path):
    path = tmp_path / "bugs.yaml"
    path.write_text(ENTRY)
    bugs = load_known_bugs(path)
    assert _find(bugs) is bugs[0]
    assert _find(bugs, adapter="optax.sigmoid_binary_cross_entropy") is bugs[0]
    assert _find(bugs, adapter="numpy.stable") is None
    assert _find(bugs, dtype="float64") is None
    assert _find(bugs, case="extreme-logits/x-plus-20") is None
    assert _find(bugs, version="3.1") is None  # fixed upstream: no longer expected


@pytest.mark.parametrize(
    "text",
    [
        "- adapter: x\n  case: y\n  reason: r\n",
        "- {adapter: x, case: y, reason: r, link: 'https://e.org/1', colour: 1}",
        "- {adapter: x, case: y, reason: r, link: 'https://e.org/1', versions: 'not a range'}",
        "{}",
        "[oops",
    ],
)
def test_malformed_registry(tmp_path, text):
    path = tmp_path / "bugs.yaml"
    path.write_text(text)
    with pytest.raises(KnownBugsError, match=str(path)):
        load_known_bugs(path)


def test_shipped_registry_has_evidence():
    for bug in load_known_bugs():
        assert bug.link.startswith("https://"), bug
        assert bug.reason.strip()


def test_cpu_only_causes_do_not_explain_a_gpu_check():
    """An entry whose cause is a CPU kernel (torch.sigmoid's underflow) names the CPU: the
    same failure on a GPU is a new finding until measured there."""
    sigmoid = [b for b in load_known_bugs() if "torch.sigmoid underflows" in b.reason]
    assert sigmoid and all(b.device == ("cpu",) for b in sigmoid)
    fields = dict(
        adapter="torch.nn.BCEWithLogitsLoss",
        case="extreme-logits/x-minus-89",
        dtype="float32",
        reduction="none",
        quantity="grad",
        version="2.13.0",
    )
    assert any(b.matches(device="cpu", **fields) for b in sigmoid)
    assert not any(b.matches(device="gpu", **fields) for b in sigmoid)


def test_target_gradient_checks_are_not_named_by_grad_entries(tmp_path):
    """quantity: grad means d/d input; d/d target is target_grad, registered on its own."""
    path = tmp_path / "bugs.yaml"
    path.write_text(
        "- {adapter: torch.*, case: '*', quantity: grad, reason: r, link: 'https://e.org/1'}\n"
    )
    (entry,) = load_known_bugs(path)
    fields = dict(adapter="torch.nn.BCELoss", case="c", dtype="float32", device="cpu",
                  reduction="none", version="2.13.0")  # fmt: skip
    assert entry.matches(quantity="grad", **fields)
    assert not entry.matches(quantity="target_grad", **fields)


def test_registry_problems_name_file_line_entry_and_field(tmp_path):
    """Like a case file's: every problem the schema finds, each with its line."""
    path = tmp_path / "bugs.yaml"
    path.write_text(
        "- adapter: x\n  case: '*'\n  reason: r\n  link: https://example.org/1\n"
        "- adapter: x\n  case: '*'\n  reason: r\n  link: https://example.org/2\n  colour: red\n"
        "- adapter: x\n  reason: r\n  link: http://example.org/3\n"
    )
    with pytest.raises(KnownBugsError) as raised:
        load_known_bugs(path)
    lines = str(raised.value).splitlines()
    assert f"{path}:9: entry 2: colour: unknown field" in lines[0]
    assert f"{path}:10: entry 3: name the checks with case, or give the condition" in lines[1]
    assert f"{path}:12: entry 3: link: 'http://example.org/3' does not match" in lines[2]


def test_the_registry_schema_is_a_valid_json_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["entry"]["additionalProperties"] is False
