"""The on-disk reference store: what comes back is exactly what was computed, a change of
the reference code starts afresh, and a damaged file costs only its reuse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from adapters.base import Conventions
from conformance.engine import reference_store
from conformance.engine.reference import Inputs, Reference, compute
from conformance.engine.reference_store import ReferenceCache, ReferenceStore

PIPELINE = Conventions(logits_through_probabilities=True, prob_clip=1e-7)


def _inputs(form: str, dtype: str = "float32") -> Inputs:
    x = [0.0, 1e-30, 0.25, 1.0] if form == "probs" else [-800.0, -3.5, 0.0, 30.0]
    return Inputs(
        form=form,
        dtype=dtype,
        x=np.array(x),
        y=np.array([0.0, 1.0, 0.3, 1.0]),
        weight=np.array([1.0, 2.0, 0.0, -1.5]),
    )


def _same(a: Reference, b: Reference) -> None:
    for field in dataclasses.fields(Reference):
        left, right = getattr(a, field.name), getattr(b, field.name)
        if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
            np.testing.assert_array_equal(left, right)
            assert left.dtype == right.dtype, field.name
        elif isinstance(left, tuple) and left and not isinstance(left[0], int):
            # mpmath numbers: NaN is not equal to itself, so compare the exact tuples
            assert [v._mpf_ for v in left] == [v._mpf_ for v in right], field.name
        else:
            assert left == right, field.name


@pytest.mark.parametrize(
    ("form", "conventions"),
    [
        ("probs", None),
        ("logits", None),
        ("logits", PIPELINE),
        ("probs", Conventions(log_floor=-100)),
    ],
)
def test_a_stored_reference_comes_back_exactly(tmp_path: Path, form, conventions):
    inputs = _inputs(form)
    computed = compute(inputs, conventions)
    store = ReferenceStore(tmp_path)
    store.put(inputs.key(conventions), computed)
    store.close()
    _same(ReferenceStore(tmp_path).get(inputs.key(conventions)), computed)


def test_a_second_cache_reads_what_the_first_computed(tmp_path: Path):
    inputs = _inputs("logits", "float64")
    first = ReferenceCache(ReferenceStore(tmp_path))
    first.get(inputs)
    assert first.computed == 1
    second = ReferenceCache(ReferenceStore(tmp_path))
    _same(second.get(inputs), compute(inputs))
    assert second.computed == 0


def test_another_version_of_the_reference_code_does_not_read_old_entries(tmp_path, monkeypatch):
    inputs = _inputs("probs")
    ReferenceStore(tmp_path).put(inputs.key(None), compute(inputs))
    monkeypatch.setattr(reference_store, "code_fingerprint", lambda: "edited")
    assert ReferenceStore(tmp_path).get(inputs.key(None)) is None


def test_a_damaged_store_is_reported_once_and_references_are_still_computed(tmp_path: Path):
    (tmp_path / "references.sqlite").write_bytes(b"this is not a database" * 100)
    cache = ReferenceCache(ReferenceStore(tmp_path))
    with pytest.warns(UserWarning, match="references.sqlite is not usable"):
        reference = cache.get(_inputs("probs"))
    _same(reference, compute(_inputs("probs")))
