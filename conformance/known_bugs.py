"""The registry of known deviations (``conformance/known_bugs.yaml``): data, not ``if``s.

Each entry names checks by glob (adapter, case, dtype, device, reduction, quantity: value
or grad), optionally a
version range of the adapter's framework, a one-line reason and a link (the upstream issue,
or the documentation that shows the behaviour). A ``fail`` or ``error`` matched by an entry
is reported as a known bug; pytest makes it a strict xfail, so the day the framework fixes
it the suite says so. ``strict: false`` is for deviations that are the point of an adapter
(the textbook formulas), where some matched checks pass and that is fine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

REGISTRY_PATH = Path(__file__).with_name("known_bugs.yaml")
_PATTERN_FIELDS = {"adapter", "case", "dtype", "device", "reduction", "quantity"}
_FIELDS = _PATTERN_FIELDS | {"versions", "reason", "link", "strict"}


class KnownBugsError(ValueError):
    """The registry file itself is malformed."""


@dataclass(frozen=True)
class KnownBug:
    """One registry entry. Pattern fields hold one or more globs; any may match."""

    adapter: tuple[str, ...]
    case: tuple[str, ...]
    reason: str
    link: str
    dtype: tuple[str, ...] = ("*",)
    device: tuple[str, ...] = ("*",)
    reduction: tuple[str, ...] = ("*",)
    quantity: tuple[str, ...] = ("*",)
    """value (the loss) or grad (its gradient)."""
    versions: str = ""
    strict: bool = True

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


def load_known_bugs(path: Path = REGISTRY_PATH) -> list[KnownBug]:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnownBugsError(f"{path}: cannot load: {exc}") from exc
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise KnownBugsError(f"{path}: expected a list of entries")
    bugs = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise KnownBugsError(f"{path}: entry {index} is not a mapping")
        unknown = set(entry) - _FIELDS
        missing = {"adapter", "case", "reason", "link"} - set(entry)
        if unknown or missing:
            raise KnownBugsError(
                f"{path}: entry {index}: unknown {sorted(unknown)} / missing {sorted(missing)}"
            )
        if entry.get("versions"):
            try:
                SpecifierSet(entry["versions"])
            except InvalidSpecifier as exc:
                raise KnownBugsError(f"{path}: entry {index}: versions: {exc}") from exc
        bugs.append(
            KnownBug(
                adapter=_patterns(entry["adapter"]),
                case=_patterns(entry["case"]),
                reason=str(entry["reason"]),
                link=str(entry["link"]),
                dtype=_patterns(entry.get("dtype", "*")),
                device=_patterns(entry.get("device", "*")),
                reduction=_patterns(entry.get("reduction", "*")),
                quantity=_patterns(entry.get("quantity", "*")),
                versions=str(entry.get("versions", "")),
                strict=bool(entry.get("strict", True)),
            )
        )
    return bugs


def _patterns(value: object) -> tuple[str, ...]:
    """A glob or a list of globs, as a tuple."""
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def find(bugs: Iterable[KnownBug], **fields: str) -> KnownBug | None:
    """The first entry matching ``fields`` (the keyword arguments of ``KnownBug.matches``)."""
    for bug in bugs:
        if bug.matches(**fields):
            return bug
    return None
