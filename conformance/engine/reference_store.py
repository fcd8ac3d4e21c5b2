"""High-precision references kept for a run (``ReferenceCache``, in memory) and between
runs (``ReferenceStore``, on disk in the suite's cache directory).

A reference costs tens of microseconds per element in mpmath and the same inputs come back
in every run, so ``ReferenceCache`` looks in memory, then on disk, before computing, and
stores what it computed. The store is one SQLite file (several worker processes write it
at once; SQLite serialises them), keyed by the inputs' hash (``Inputs.key``: form, dtype,
values and the conventions applied) and by a fingerprint of the code that computes
references: editing ``reference.py``, ``samples.py``, ``tolerances.py`` or ``dtypes.py``,
or another mpmath, starts a fresh table, so a stale reference is never read.

Values are stored as JSON, not pickles, so a cache file from elsewhere cannot run code:
each mpmath number as its exact (sign, mantissa, exponent, bit count) tuple, arrays as
lists with their dtype. The file is safe to delete at any time; a damaged one is
reported once and ignored (the references are then computed as if it were absent).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any

import mpmath
import numpy as np

from adapters.base import Conventions
from conformance.engine import dtypes, reference, samples, tolerances
from conformance.engine.reference import Inputs, Reference, compute

_FIELDS_MPF = ("terms", "grads", "target_grads", "second_grads")
_FIELDS_ARRAY = (
    "grad_terms",
    "single_term",
    "target_terms",
    "second_terms",
    "loss_slack",
    "grad_slack",
    "target_slack",
    "sample_weight",
    "mean_weights",
)
_TIMEOUT_S = 30.0
"""How long a writer waits for another process's write to finish before giving up on
storing (the reference is still returned; only its reuse is lost)."""


def code_fingerprint() -> str:
    """A hash of the source that computes references and of mpmath's version."""
    digest = hashlib.sha256(mpmath.__version__.encode())
    for module in (reference, samples, tolerances, dtypes):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def _encode(ref: reference.Reference) -> str:
    record: dict[str, Any] = {
        "shape": list(ref.shape),
        "flush_below": ref.flush_below,
        "smallest_normal": ref.smallest_normal,
        "axis": ref.axis,
    }
    for name in _FIELDS_MPF:
        record[name] = [[s, hex(m), e, b] for s, m, e, b in (v._mpf_ for v in getattr(ref, name))]
    for name in _FIELDS_ARRAY:
        array = getattr(ref, name)
        record[name] = None if array is None else [array.dtype.str, array.tolist()]
    return json.dumps(record)


def _decode(text: str) -> reference.Reference:
    record = json.loads(text)
    ctx = reference.context()
    fields: dict[str, Any] = {
        "shape": tuple(record["shape"]),
        "flush_below": record["flush_below"],
        "smallest_normal": record["smallest_normal"],
        "axis": record["axis"],
    }
    for name in _FIELDS_MPF:
        fields[name] = tuple(ctx.make_mpf((s, int(m, 16), e, b)) for s, m, e, b in record[name])
    for name in _FIELDS_ARRAY:
        stored = record[name]
        fields[name] = None if stored is None else np.array(stored[1], dtype=stored[0])
    return reference.Reference(**fields)


class ReferenceStore:
    """``get(key)`` and ``put(key, reference)`` over one SQLite file under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "references.sqlite"
        self.table = f"refs_{code_fingerprint()}"
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and not self._broken:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=_TIMEOUT_S, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # a lost write costs a recomputation
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, ref TEXT)"
                )
                self._db = db
            except sqlite3.Error as exc:
                self._give_up(exc)
        return self._db

    def _give_up(self, exc: Exception) -> None:
        self._broken, self._db = True, None
        warnings.warn(
            f"reference cache {self.path} is not usable ({exc}); references are computed "
            "without it (delete the file to start afresh)",
            stacklevel=3,
        )

    def get(self, key: str) -> reference.Reference | None:
        db = self._connect()
        if db is None:
            return None
        try:
            row = db.execute(f"SELECT ref FROM {self.table} WHERE key = ?", (key,)).fetchone()
            return None if row is None else _decode(row[0])
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            self._give_up(exc)
            return None

    def put(self, key: str, ref: reference.Reference) -> None:
        db = self._connect()
        if db is None:
            return
        try:
            db.execute(
                f"INSERT OR REPLACE INTO {self.table} (key, ref) VALUES (?, ?)",
                (key, _encode(ref)),
            )
        except sqlite3.Error as exc:
            self._give_up(exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class ReferenceCache:
    """Computes references once per distinct input, for the whole run; records time spent.
    A reference computed by an earlier run (or another worker of this one) is read from
    ``store`` (``reference_store.py``) when one is given."""

    def __init__(self, store: ReferenceStore | None = None) -> None:
        self._store: dict[str, Reference] = {}
        self._disk = store
        self.seconds = 0.0
        self.computed = 0

    def get(self, inputs: Inputs, conventions: Conventions | None = None) -> Reference:
        key = inputs.key(conventions)
        ref = self._store.get(key)
        if ref is None:
            start = time.perf_counter()
            ref = None if self._disk is None else self._disk.get(key)
            if ref is None:
                ref = compute(inputs, conventions)
                self.computed += 1
                if self._disk is not None:
                    self._disk.put(key, ref)
            self.seconds += time.perf_counter() - start
            self._store[key] = ref
        return ref
