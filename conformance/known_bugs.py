"""The registry of known deviations (``conformance/known_bugs.yaml``): data, not ``if``s.

An entry names checks by glob (adapter, case, dtype, device, reduction, quantity: value or
grad), optionally a version range of the adapter's framework, and states the kind of
finding it describes (``verdict``: fail, the default, or error) with a one-line reason and
a link (the upstream issue, or the source or documentation that shows the behaviour).

An entry may also state the condition that triggers the bug, per element (``when``:
closed ranges of input, target, weight and pos_weight). Such an entry recognises the bug
in any case, a user's own or a random bulk one: a check whose failing elements all meet
the condition of a matching entry is that known bug. Where the compared value is not
elementwise (a sum, a mean, a raised error), one element of the case meeting the
condition is enough. An entry with ``computed_in: float32`` describes a result computed
in float32 (a silent demotion): the value must still meet the reference within
float32's tolerance, or it is another finding.

A fail or error an entry explains is reported as a known bug with its link; a finding of
another kind (a registered accuracy fail that starts raising) is not. An entry that names
checks by case with no ``when`` and no ``computed_in`` is an expectation as well: under
pytest, such a check passing means the framework fixed it, and the test fails until the
entry is removed (``strict: false`` turns that off, for deviations that only some of the
named checks show).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

REGISTRY_PATH = Path(__file__).with_name("known_bugs.yaml")
_PATTERN_FIELDS = {"adapter", "case", "dtype", "device", "reduction", "quantity"}
_FIELDS = _PATTERN_FIELDS | {
    "versions",
    "reason",
    "link",
    "strict",
    "verdict",
    "when",
    "computed_in",
}
ELEMENT_FIELDS = ("input", "target", "weight", "pos_weight")
"""What a condition may constrain: the arrays of a call, element by element."""
VERDICTS = ("fail", "error")


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
    when: tuple[Range, ...] = ()
    """Per-element condition; empty: every element of the named cases."""
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
        pairs = (
            (self.adapter, adapter),
            (self.case, case),
            (self.dtype, dtype),
            (self.device, device),
            (self.reduction, reduction),
            (self.quantity, quantity),
        )
        if not all(any(fnmatchcase(value, p) for p in patterns) for patterns, value in pairs):
            return False
        if self.versions and version:
            try:
                return Version(version) in SpecifierSet(self.versions)
            except InvalidVersion:
                return True
        return True

    @property
    def expected_to_fail(self) -> bool:
        """Whether every check the entry names must show the bug (see the module doc): a
        condition or a ``computed_in`` says which checks show it, so such entries do not."""
        return self.strict and not self.when and not self.computed_in

    def meets(self, elements: Mapping[str, np.ndarray | None]) -> np.ndarray | None:
        """Per element, whether the condition holds (None: no condition). A condition on
        an array the call does not have (a weight) holds nowhere."""
        if not self.when:
            return None
        inputs = elements["input"]
        assert inputs is not None, "a call always has an input"
        shape = inputs.shape
        held = np.ones(int(np.prod(shape)), dtype=bool)
        for condition in self.when:
            values = elements.get(condition.field)
            if values is None:
                return np.zeros_like(held)
            held &= condition.holds(np.broadcast_to(values, shape).reshape(-1))
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
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnownBugsError(f"{path}: cannot load: {exc}") from exc
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise KnownBugsError(f"{path}: expected a list of entries")
    return [_entry(path, index, entry) for index, entry in enumerate(entries, start=1)]


def _entry(path: Path, index: int, entry: object) -> KnownBug:
    where = f"{path}: entry {index}"
    if not isinstance(entry, dict):
        raise KnownBugsError(f"{where} is not a mapping")
    unknown = set(entry) - _FIELDS
    missing = {"adapter", "reason", "link"} - set(entry)
    if "case" not in entry and "when" not in entry:
        missing.add("case or when")
    if unknown or missing:
        raise KnownBugsError(f"{where}: unknown {sorted(unknown)} / missing {sorted(missing)}")
    if entry.get("versions"):
        try:
            SpecifierSet(entry["versions"])
        except InvalidSpecifier as exc:
            raise KnownBugsError(f"{where}: versions: {exc}") from exc
    computed_in = str(entry.get("computed_in", ""))
    if computed_in and computed_in not in ("float16", "bfloat16", "float32"):
        raise KnownBugsError(f"{where}: computed_in: {computed_in!r} is not a lower dtype")
    verdict = str(entry.get("verdict", "fail"))
    if verdict not in VERDICTS:
        raise KnownBugsError(f"{where}: verdict: {verdict!r} is not one of {VERDICTS}")
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
        verdict=verdict,
        when=_condition(where, entry.get("when", {})),
        computed_in=computed_in,
    )


def _condition(where: str, when: object) -> tuple[Range, ...]:
    """``{input: [-inf, -2], target: 0}`` -> ranges; a number is a one-point range."""
    if not isinstance(when, dict):
        raise KnownBugsError(f"{where}: when: expected a mapping of {ELEMENT_FIELDS}")
    ranges = []
    for name, bounds in when.items():
        if name not in ELEMENT_FIELDS:
            raise KnownBugsError(f"{where}: when: {name!r} is not one of {ELEMENT_FIELDS}")
        pair = bounds if isinstance(bounds, list) else [bounds, bounds]
        try:
            low, high = (float(b) for b in pair)
        except (TypeError, ValueError):
            raise KnownBugsError(
                f"{where}: when.{name}: expected a number or [low, high], got {bounds!r}"
            ) from None
        if math.isnan(low) or math.isnan(high) or low > high:
            raise KnownBugsError(f"{where}: when.{name}: [{low}, {high}] is not a range")
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
