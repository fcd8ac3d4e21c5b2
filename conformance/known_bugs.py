"""The registry of known deviations (``conformance/known_bugs.yaml``): data, not ``if``s.

An entry names checks by glob (adapter, case, dtype, device, reduction, quantity: value,
grad, target_grad or grad2), optionally a version range of the adapter's framework, and states
the kind of finding it describes (``verdict``: fail, the default, or error) with a one-line
reason and a link (the upstream issue, or the source or documentation that shows the
behaviour).

A bug that depends on values states its condition (``when``): per element, closed ranges
of input, target, weight and pos_weight (``.nan`` for NaN), or a list of such mappings,
any of which may hold. Such an entry recognises the bug in any case, a user's own or a
random bulk one, whatever its id and shape: a check whose failing elements each meet the
condition of a matching entry is that known bug. Where the compared value is not
elementwise (a sum, a mean, a raised error), one element of the case meeting the
condition is enough. ``shown_by`` names the suite's own cases that show it.

An entry without a condition names cases, and says why it cannot have one
(``no_condition``: a bug of shapes or sizes, or of a property between calls), unless it
names every case. An entry with ``computed_in: float32`` describes a result computed in
float32 (a silent demotion): the value must still meet the reference within float32's
tolerance, or it is another finding.

A fail or error an entry explains is reported as a known bug with its link; a finding of
another kind (a registered accuracy fail that starts raising) is not. The cases an entry
names (``case``, or ``shown_by`` with a condition) are an expectation as well: under
pytest, such a check passing means the framework fixed it, and the test fails until the
entry is removed (``strict: false`` turns that off, for deviations that only some of the
named checks show).

The file is read as bounded, safe YAML (``conformance/engine/case_yaml.py``) and checked
against ``known_bugs.schema.json``; a problem is reported with the file, line, entry and
field, as a case file's are.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from conformance.engine import case_yaml

REGISTRY_PATH = Path(__file__).with_name("known_bugs.yaml")
SCHEMA_PATH = Path(__file__).with_name("known_bugs.schema.json")
ELEMENT_FIELDS = ("input", "target", "weight", "pos_weight")
"""What a condition may constrain: the arrays of a call, element by element."""


class KnownBugsError(ValueError):
    """The registry file itself is malformed."""


@dataclass(frozen=True)
class Range:
    """A closed interval one array's elements must lie in: ``low <= value <= high``."""

    field: str
    low: float
    high: float

    def holds(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (values >= self.low) & (values <= self.high)


@dataclass(frozen=True)
class IsNan:
    """One array's element is NaN (``.nan`` in a condition; no NaN is stored, so entries
    compare equal across processes)."""

    field: str

    def holds(self, values: np.ndarray) -> np.ndarray:
        return np.isnan(values)


Condition = tuple[Range | IsNan, ...]
"""Limits that must all hold for an element."""


@dataclass(frozen=True)
class KnownBug:
    """One registry entry. Pattern fields hold one or more globs; any may match."""

    adapter: tuple[str, ...]
    reason: str
    link: str
    case: tuple[str, ...] = ("*",)
    dtype: tuple[str, ...] = ("*",)
    device: tuple[str, ...] = ("*",)
    reduction: tuple[str, ...] = ("*",)
    quantity: tuple[str, ...] = ("*",)
    """value (the loss) or grad (its gradient)."""
    versions: str = ""
    strict: bool = True
    verdict: str = "fail"
    """The kind of finding the bug is: a wrong value (fail) or a raise (error)."""
    when: tuple[Condition, ...] = ()
    """Per-element conditions, any of which may hold; empty: no condition (the entry
    names its cases)."""
    shown_by: tuple[str, ...] = ()
    """Globs of the suite's own cases that show a conditioned bug (its expectation)."""
    no_condition: str = ""
    """Why an entry that names cases has no condition."""
    computed_in: str = ""
    """A dtype: the bug is a result computed in that lower precision, so the value must
    still meet the reference within tolerance at that dtype (empty: any wrong value)."""

    def matches(
        self,
        adapter: str,
        case: str,
        dtype: str,
        device: str,
        reduction: str,
        quantity: str,
        version: str,
    ) -> bool:
        """Whether the entry's globs and version range name this check."""
        return self.names(self.case, dict(adapter=adapter, case=case, dtype=dtype, device=device,
                                          reduction=reduction, quantity=quantity,
                                          version=version))  # fmt: skip

    def names(self, cases: tuple[str, ...], check: Mapping[str, str]) -> bool:
        """Whether the entry's globs, with ``cases`` for its case globs, and its version
        range name the check (``check``: the arguments of ``matches``)."""
        pairs = (
            (self.adapter, check["adapter"]),
            (cases, check["case"]),
            (self.dtype, check["dtype"]),
            (self.device, check["device"]),
            (self.reduction, check["reduction"]),
            (self.quantity, check["quantity"]),
        )
        if not all(any(fnmatchcase(value, p) for p in patterns) for patterns, value in pairs):
            return False
        if self.versions and check["version"]:
            try:
                return Version(check["version"]) in SpecifierSet(self.versions)
            except InvalidVersion:
                return True
        return True

    @property
    def named_cases(self) -> tuple[str, ...]:
        """The globs of the suite's cases that show the bug: ``case``, or a conditioned
        entry's ``shown_by``."""
        return self.shown_by if self.when else self.case

    @property
    def expectation(self) -> tuple[str, ...]:
        """The case globs whose checks must show the bug (see the module doc): the named
        cases, but none where ``strict`` is off or the bug is a lower precision
        (``computed_in`` says itself which checks show it)."""
        return () if not self.strict or self.computed_in else self.named_cases

    def expects(self, **fields: str) -> bool:
        """Whether this check (the arguments of ``matches``) must show the bug."""
        expectation = self.expectation
        return bool(expectation) and self.names(expectation, fields)

    def meets(self, elements: Mapping[str, np.ndarray | None]) -> np.ndarray | None:
        """Per element, whether some condition holds (None: no condition). A condition on
        an array the call does not have (a weight) holds nowhere."""
        if not self.when:
            return None
        inputs = elements["input"]
        assert inputs is not None, "a call always has an input"
        shape = inputs.shape
        held = np.zeros(int(np.prod(shape)), dtype=bool)
        for condition in self.when:
            held |= _holds(condition, elements, shape)
        return held


def _holds(
    condition: Condition, elements: Mapping[str, np.ndarray | None], shape: tuple[int, ...]
) -> np.ndarray:
    held = np.ones(int(np.prod(shape)), dtype=bool)
    for limit in condition:
        values = elements.get(limit.field)
        if values is None:
            return np.zeros_like(held)
        held &= limit.holds(np.broadcast_to(values, shape).reshape(-1))
    return held


def explain(
    bugs: Iterable[KnownBug],
    *,
    verdict: str,
    elements: Mapping[str, np.ndarray | None],
    outside: np.ndarray | None,
    holds_at: Callable[[str], bool],
    **fields: str,
) -> KnownBug | None:
    """The entry that explains a finding, or None.

    ``fields`` name the check (the keyword arguments of ``KnownBug.matches``);
    ``elements`` hold its arrays by ``ELEMENT_FIELDS`` name ("input" is required; the
    others broadcast to its shape); ``outside`` marks
    the elements outside tolerance where the compared value is elementwise (None where it
    is not); ``holds_at(dtype)`` tells whether the value meets the reference within
    tolerance at another dtype (for ``computed_in``). Entries without a condition win;
    among conditioned ones, each failing element must meet some entry's condition, and
    the entry meeting most of them is returned."""
    named = [
        b
        for b in bugs
        if b.verdict == verdict
        and b.matches(**fields)
        and (not b.computed_in or holds_at(b.computed_in))
    ]
    for bug in named:
        if not bug.when:
            return bug
    if not named or all(a is None or a.size == 0 for a in elements.values()):
        return None
    if outside is None or not outside.any():
        return next((b for b in named if _any(b.meets(elements))), None)
    unexplained = outside.reshape(-1).copy()
    best, best_count = None, 0
    for bug in named:
        met = bug.meets(elements)
        assert met is not None
        count = int(np.sum(met & outside.reshape(-1)))
        unexplained &= ~met
        if count > best_count:
            best, best_count = bug, count
    return best if not unexplained.any() else None


def _any(mask: np.ndarray | None) -> bool:
    return mask is not None and bool(mask.any())


def load_known_bugs(path: Path = REGISTRY_PATH) -> list[KnownBug]:
    """The registry at ``path``: read as bounded, safe YAML, checked against
    ``known_bugs.schema.json`` and then for what a schema cannot state; KnownBugsError
    names the file, the line, the entry and the field of every problem found."""
    try:
        document = case_yaml.read(path)
    except case_yaml.CaseYamlError as exc:
        line = f":{exc.line}" if exc.line else ""
        raise KnownBugsError(f"{path}{line}: cannot load: {exc}") from exc
    if document.data is None:
        return []
    problems = sorted(_validator().iter_errors(document.data), key=lambda e: list(e.path))
    if problems:
        raise KnownBugsError(
            "\n".join(_schema_problem(path, document, problem) for problem in problems[:20])
        )
    return [
        _entry(_Place(path, document.root, index), entry)
        for index, entry in enumerate(document.data)
    ]


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@dataclass(frozen=True)
class _Place:
    """Where an entry is, for messages: ``file:line: entry N: field``."""

    path: Path
    root: Any
    index: int

    def __call__(self, field: str | None = None) -> str:
        parts: list[Any] = [self.index] + ([field] if field else [])
        line = case_yaml.line_of(self.root, parts)
        return f"{self.path}:{line}: entry {self.index + 1}" + (f": {field}" if field else "")


def _schema_problem(path: Path, document: Any, problem: jsonschema.ValidationError) -> str:
    parts = list(problem.absolute_path)
    if not parts or not isinstance(parts[0], int):
        return f"{path}: {problem.message}"
    field = ".".join(str(p) for p in parts[1:])
    named = re.findall(r"'([^']+)' (?:was unexpected|is a required property)", problem.message)
    if named and problem.validator in ("additionalProperties", "required"):
        field = ".".join(filter(None, [field, named[0]]))
    where = _Place(path, document.root, parts[0])(field or None)
    if problem.validator == "additionalProperties":
        return f"{where}: unknown field (not in known_bugs.schema.json)"
    if problem.validator == "anyOf" and not parts[1:]:
        return f"{where}: name the checks with case, or give the condition (when)"
    return f"{where}: {problem.message}"


def _entry(at: _Place, entry: dict[str, Any]) -> KnownBug:
    _check_condition_fields(at, entry)
    if entry.get("versions"):
        try:
            SpecifierSet(entry["versions"])
        except InvalidSpecifier as exc:
            raise KnownBugsError(f"{at('versions')}: {exc}") from exc
    return KnownBug(
        adapter=_patterns(entry["adapter"]),
        case=_patterns(entry.get("case", "*")),
        reason=str(entry["reason"]),
        link=str(entry["link"]),
        dtype=_patterns(entry.get("dtype", "*")),
        device=_patterns(entry.get("device", "*")),
        reduction=_patterns(entry.get("reduction", "*")),
        quantity=_patterns(entry.get("quantity", "*")),
        versions=str(entry.get("versions", "")),
        strict=bool(entry.get("strict", True)),
        verdict=str(entry.get("verdict", "fail")),
        when=_conditions(at("when"), entry.get("when")),
        shown_by=_patterns(entry["shown_by"]) if "shown_by" in entry else (),
        no_condition=str(entry.get("no_condition", "")),
        computed_in=str(entry.get("computed_in", "")),
    )


def _check_condition_fields(at: _Place, entry: dict[str, Any]) -> None:
    """A conditioned entry recognises any case, so it names the cases that show it with
    ``shown_by``, not ``case``; one that names cases without a condition says why."""
    if "when" in entry:
        if "case" in entry:
            raise KnownBugsError(
                f"{at('case')}: an entry with a condition (when) recognises the bug in any "
                "case; name the suite's cases that show it with shown_by"
            )
        if "no_condition" in entry:
            raise KnownBugsError(f"{at('no_condition')}: the entry has a condition (when)")
        return
    if "shown_by" in entry:
        raise KnownBugsError(f"{at('shown_by')}: only an entry with a condition (when) has it")
    names_cases = _patterns(entry["case"]) != ("*",)
    if names_cases and not entry.get("computed_in") and not entry.get("no_condition"):
        raise KnownBugsError(
            f"{at('case')}: an entry that names cases states the condition that triggers "
            "the bug (when), or says why it has none (no_condition)"
        )


def _conditions(where: str, when: Any) -> tuple[Condition, ...]:
    """A mapping, or a list of mappings any of which may hold, as conditions (their shape
    checked by the schema)."""
    if when is None:
        return ()
    alternatives = when if isinstance(when, list) else [when]
    return tuple(_condition(where, alternative) for alternative in alternatives)


def _condition(where: str, when: dict[str, Any]) -> Condition:
    """``{input: [-inf, -2], target: 0}`` -> ranges; a number is a one-point range, and
    ``.nan`` holds where the element is NaN (the mapping's shape checked by the schema)."""
    ranges: list[Range | IsNan] = []
    for name, bounds in when.items():
        low, high = (float(b) for b in (bounds if isinstance(bounds, list) else [bounds] * 2))
        if not isinstance(bounds, list) and math.isnan(low):
            ranges.append(IsNan(name))
            continue
        if math.isnan(low) or math.isnan(high) or low > high:
            raise KnownBugsError(f"{where}.{name}: [{low}, {high}] is not a range")
        ranges.append(Range(name, low, high))
    return tuple(ranges)


def _patterns(value: object) -> tuple[str, ...]:
    """A glob or a list of globs, as a tuple."""
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def find(bugs: Iterable[KnownBug], **fields: str) -> KnownBug | None:
    """The first entry without a condition naming a check by its globs (the arguments of
    ``KnownBug.matches``): for findings that have no elements to test a condition on, the
    property tests'."""
    for bug in bugs:
        if not bug.when and not bug.computed_in and bug.matches(**fields):
            return bug
    return None
