"""Which worker runs which checks, and in what order: work units, their costs, shards.

A *unit* is the checks of one adapter at one dtype (both devices), in plan order. Checks
of a unit share shapes and dtypes, so the executables a framework compiles for one
(eager JAX compiles every op per shape and dtype; compiled modes per signature) serve the
next, in the same process. A unit costing more than ``max_unit_s`` is cut into
consecutive pieces, so the last minutes of a run can still be shared between cores.

The supervisor hands units out one at a time, to whichever worker is free (``Scheduler``):
first a unit of the framework that worker already imported (no second import, no
second set of Keras helpers), then one of a framework no other worker holds, and only
then anything, always the most expensive first, so no core idles while long work waits.

Costs are seconds per check, by adapter: measured by the last run on this machine
(``costs.json`` in the cache directory), else the table shipped beside this module
(measured on the 2-core reference machine by ``bce-conformance run --profile full``),
else a per-framework guess. Shards (``--shard K/N``) use only the shipped table, so every
job of a CI matrix computes the same partition whatever its own cache holds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.engine.matrix import Check

SHIPPED_COSTS = Path(__file__).with_name("check_costs.json")
GUESS_S = {"numpy": 0.0002, "torch": 0.001, "tensorflow": 0.004, "jax": 0.01}
"""Seconds per check of an adapter that no table lists, by framework (anything else:
``DEFAULT_GUESS_S``): rough figures; the first run measures the real ones."""
DEFAULT_GUESS_S = 0.005
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A ``--shard`` that is not K/N with 1 <= K <= N."""


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3); ShardError otherwise."""
    match = _SHARD.match(text)
    if not match:
        raise ShardError(f"--shard {text!r}: give K/N, e.g. 1/3 (the first of three shards)")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise ShardError(f"--shard {text}: K must be between 1 and N")
    return k, n


def read_costs(path: Path) -> dict[str, float]:
    """Seconds per check by adapter name from a costs file; {} when absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in data.items()
        if isinstance(v, int | float) and math.isfinite(v) and v >= 0
    }


def write_costs(path: Path, measured: Mapping[str, tuple[float, int]]) -> None:
    """Store seconds per check (total seconds, checks) by adapter, merged into the file."""
    costs = read_costs(path)
    costs.update({name: seconds / count for name, (seconds, count) in measured.items() if count})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(dict(sorted(costs.items())), indent=1) + "\n", "utf-8")
    temporary.replace(path)


class CostModel:
    """Seconds per check of each adapter: the first table that lists it wins."""

    def __init__(self, *tables: Mapping[str, float]) -> None:
        self.tables = tables

    @classmethod
    def shipped(cls) -> CostModel:
        return cls(read_costs(SHIPPED_COSTS))

    @classmethod
    def measured_then_shipped(cls, measured: Path | None) -> CostModel:
        local = read_costs(measured) if measured is not None else {}
        return cls(local, read_costs(SHIPPED_COSTS))

    def check_s(self, check: Check) -> float:
        name = check.adapter.name
        for table in self.tables:
            if name in table:
                return table[name]
        return GUESS_S.get(check.adapter.framework, DEFAULT_GUESS_S)


@dataclass(frozen=True)
class Unit:
    """Checks that run together in one worker, in this order."""

    indices: tuple[int, ...]
    framework: str
    cost_s: float


def units(
    checks: Sequence[Check],
    costs: CostModel,
    indices: Iterable[int] | None = None,
    max_unit_s: float = math.inf,
) -> list[Unit]:
    """``indices`` (default: all) grouped by adapter and dtype, cut at ``max_unit_s``."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index in range(len(checks)) if indices is None else indices:
        check = checks[index]
        groups.setdefault((check.adapter.name, check.dtype), []).append(index)
    out = []
    for members in groups.values():
        framework = checks[members[0]].adapter.framework
        piece: list[int] = []
        piece_s = 0.0
        for index in members:
            cost = costs.check_s(checks[index])
            if piece and piece_s + cost > max_unit_s:
                out.append(Unit(tuple(piece), framework, piece_s))
                piece, piece_s = [], 0.0
            piece.append(index)
            piece_s += cost
        out.append(Unit(tuple(piece), framework, piece_s))
    return out


def shard(checks: Sequence[Check], k: int, n: int, costs: CostModel | None = None) -> list[int]:
    """The check indices of shard ``k`` of ``n``: whole units, most expensive first, each
    to the shard with the least cost so far (ties to the lowest number). Deterministic:
    every shard job computes the same partition, and every check is in exactly one shard."""
    model = costs or CostModel.shipped()
    loads = [0.0] * n
    members: list[list[int]] = [[] for _ in range(n)]
    ordered = sorted(units(checks, model), key=lambda u: (-u.cost_s, u.indices[0]))
    for unit in ordered:
        lightest = loads.index(min(loads))
        members[lightest].extend(unit.indices)
        loads[lightest] += unit.cost_s
    return sorted(members[k - 1])


class Scheduler:
    """Hands out units to free workers (see the module docstring)."""

    def __init__(self, work: Iterable[Unit]) -> None:
        self._pending = sorted(work, key=lambda u: (-u.cost_s, u.indices[0]))

    def __bool__(self) -> bool:
        return bool(self._pending)

    def next_for(self, framework: str | None, held_elsewhere: set[str]) -> Unit | None:
        """The unit a worker holding ``framework`` (None: a fresh worker) runs next, while
        other workers hold ``held_elsewhere``."""
        if not self._pending:
            return None
        for prefer in (
            lambda u: u.framework == framework,
            lambda u: u.framework not in held_elsewhere,
            lambda u: True,
        ):
            for position, unit in enumerate(self._pending):
                if prefer(unit):
                    return self._pending.pop(position)
        return None  # unreachable: the last rule takes any unit

    def put_back(self, unit: Unit) -> None:
        """Return the unstarted rest of a unit (its worker died), to run first."""
        self._pending.insert(0, unit)
