"""The benchmark regression gate: this tree against a base commit, both measured by the
asv benchmarks in one sitting on this machine, so that the machine's drift cancels.

How (``bce-conformance gate --base REV``): the base commit is checked out in a git worktree;
asv runs the gate benchmark profile (``GATE``, defined in ``conformance/profiles.py``) for
the base (its own adapters, benchmarks and cases, through ``ASV_PYTHONPATH``) and for this
tree, each into a results folder of its own; ``compare_results`` then reads the two result
files. A speed regression must show again in each of ``CONFIRM_ROUNDS`` further A/B rounds
of the benchmarks it names, run in alternating order, before it counts: a slow spell on a
shared 2-core machine is not a regression.

Rules, each a regression (exit 1):
- speed (asv unit ``seconds``): the current median over the base's above ``TIME_FACTOR``;
- agreement (unit ``ULPs``): the largest error of an adapter's passing checks on a case
  file grew by more than ``ULP_BUDGET``;
- verdicts (unit ``checks``): fewer passes, or more fails, errors or accepted invalid
  inputs, for an adapter;
- a benchmark with a value in the base and none now (it broke).
Benchmarks only one side has are listed, not judged.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.profiles import BENCH_PROFILES
from conformance.vocabulary import Verdict

TIME_FACTOR = 1.3
"""An unchanged torch call measured 22 us, then 43 us, on this noisy 2-core machine; within
one A/B sitting, repeated, medians of the same code stay within 1.3 of each other."""
ULP_BUDGET = 1.0
"""The same inputs through the same code give the same bits, so any change is a change of
numerics; one ULP of slack admits a different summation order in a reduction, which moves
a mean by about one rounding, and nothing else."""
WORSE_WHEN_MORE = {v.value for v in Verdict if v.ran and not v.conforms}
WORSE_WHEN_FEWER = {Verdict.PASS.value}
GATE = BENCH_PROFILES["gate"]
CONFIRM_ROUNDS = 3
"""Further A/B rounds a slowdown must survive, each beyond ``TIME_FACTOR``. On CI, unchanged
code (jax.numpy.textbook, 1e6 float32) read 2.03x slower in one round and still 1.45x in
the next, both rounds measuring the base first: two same-order rounds are not enough. The
rounds alternate which side runs first, so a machine that slows down over the sitting
cannot make either side look slow, and a slowdown of unchanged code must outlast four
rounds of minutes each. A real slowdown costs the confirming rounds; a clean pass costs
nothing."""


@dataclass
class BenchmarkChange:
    """A benchmark value that moved past its rule: a regression or an improvement."""

    benchmark: str
    base: float | None
    current: float | None
    unit: str
    why: str

    def line(self) -> str:
        change = f"{_show(self.base, self.unit)} -> {_show(self.current, self.unit)}"
        return f"{self.benchmark}: {change} ({self.why})"


@dataclass
class GateResult:
    regressions: list[BenchmarkChange] = field(default_factory=list)
    improvements: list[BenchmarkChange] = field(default_factory=list)
    compared: int = 0
    only_base: list[str] = field(default_factory=list)
    only_current: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"compared {self.compared} benchmark values"]
        if self.only_base or self.only_current:
            lines.append(
                f"not judged: {len(self.only_base)} only in the base, "
                f"{len(self.only_current)} only in the current results"
            )
        for title, changes in (
            ("REGRESSIONS", self.regressions),
            ("improvements", self.improvements),
        ):
            if changes:
                lines.append(f"{title} ({len(changes)}):")
                lines += [f"  {c.line()}" for c in changes]
        return "\n".join(lines)


def load_results(path: Path) -> dict[str, tuple[float | None, str]]:
    """asv result file -> {"name(param, ...)": (value or None, unit)}; the units come from
    the ``benchmarks.json`` beside the machine folder."""
    document = json.loads(path.read_text())
    benchmarks = json.loads((path.parent.parent / "benchmarks.json").read_text())
    columns = document["result_columns"]
    out: dict[str, tuple[float | None, str]] = {}
    for name, row in document["results"].items():
        record = dict(zip(columns, row, strict=False))
        unit = benchmarks.get(name, {}).get("unit", "")
        values = record["result"]
        params = record.get("params") or []
        labels = _param_labels(params) if params else [""]
        if not isinstance(values, list):
            values = [values]
        for label, value in zip(labels, values, strict=False):
            number = value if isinstance(value, int | float) and math.isfinite(value) else None
            out[f"{name}{label}"] = (number, unit)
    return out


def _param_labels(params: Sequence[Sequence[str]]) -> list[str]:
    return [f"({', '.join(combo)})" for combo in itertools.product(*params)]


def compare_results(
    base: Mapping[str, tuple[float | None, str]],
    current: Mapping[str, tuple[float | None, str]],
    time_factor: float = TIME_FACTOR,
    ulp_budget: float = ULP_BUDGET,
) -> GateResult:
    result = GateResult()
    result.only_base = sorted(set(base) - set(current))
    result.only_current = sorted(set(current) - set(base))
    for name in sorted(set(base) & set(current)):
        (before, unit), (after, _) = base[name], current[name]
        if before is None and after is None:
            continue
        result.compared += 1
        if after is None:
            result.regressions.append(BenchmarkChange(name, before, after, unit, "no value now"))
            continue
        if before is None:
            continue
        verdict = _judge(name, before, after, unit, time_factor, ulp_budget)
        if verdict is not None:
            worse, why = verdict
            (result.regressions if worse else result.improvements).append(
                BenchmarkChange(name, before, after, unit, why)
            )
    return result


def _judge(name: str, before: float, after: float, unit: str, factor: float,
           budget: float) -> tuple[bool, str] | None:  # fmt: skip
    if unit == "seconds" and before > 0:
        ratio = after / before
        if ratio > factor:
            return True, f"{ratio:.2f}x slower, limit {factor:g}x"
        if ratio < 1 / factor:
            return False, f"{1 / ratio:.2f}x faster"
    elif unit == "ULPs":
        if after - before > budget:
            return True, f"max error grew by {after - before:g} ULPs, budget {budget:g}"
        if before - after > budget:
            return False, f"max error fell by {before - after:g} ULPs"
    elif unit == "checks" and after != before and name.startswith("agreement.Verdicts"):
        verdict = name.rsplit(", ", 1)[-1].strip("')")
        if verdict in WORSE_WHEN_MORE | WORSE_WHEN_FEWER:
            worse = (after > before) == (verdict in WORSE_WHEN_MORE)
            return worse, f"{verdict} checks {before:g} -> {after:g}"
    return None


# ---- the A/B run -------------------------------------------------------------------------


def asv_config(tree: Path, results: Path, html: Path) -> dict[str, Any]:
    """The project's asv configuration with the benchmarks of ``tree`` and the results in
    a folder of the gate's own (nothing lands in the published site)."""
    repository = Path(__file__).resolve().parents[2]
    config = json.loads((repository / "asv.conf.json").read_text())
    config.update(repo=str(repository), benchmark_dir=str(tree / "benchmarks"),
                  results_dir=str(results), html_dir=str(html))  # fmt: skip
    return config


def run_side(tree: Path, work: Path, label: str, commit: str, benchmarks: Sequence[str],
             environment: Mapping[str, str] | None = None) -> Path | None:  # fmt: skip
    """asv over ``benchmarks`` (regexes) with the code of ``tree``, in the gate profile's
    environment and then ``environment``; the result file, or None when the tree has none of
    those benchmarks (a base from before they existed)."""
    results = work / label
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / f"asv-{label}.json"
    config_path.write_text(json.dumps(asv_config(tree, results, work / "html")))
    env = {**os.environ, "ASV_PYTHONPATH": str(tree), **GATE.environment(),
           **(environment or {})}  # fmt: skip
    command = [sys.executable, "-m", "asv", "run", "--config", str(config_path),
               "--python=same", "--set-commit-hash", commit]  # fmt: skip
    for regex in benchmarks:
        command += ["-b", regex]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode not in (0, 2):  # 2: a benchmark failed, judged by compare_results
        raise RuntimeError(f"asv run for {label} failed (exit {completed.returncode}):\n"
                           f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")  # fmt: skip
    files = sorted(results.glob(f"*/{commit[:8]}-*.json"))
    return files[0] if files else None  # None: the tree has none of these benchmarks


@dataclass(frozen=True)
class Side:
    """One side of the A/B: the tree whose code is measured, the commit its results are
    filed under, and environment variables of its own (tests use them to make a side slow)."""

    tree: Path
    commit: str
    environment: Mapping[str, str] = field(default_factory=dict)


def ab_round(base: Side, current: Side, work: Path, benchmarks: Sequence[str],
             current_first: bool = False) -> GateResult:  # fmt: skip
    """Both sides over ``benchmarks``, one after the other, then compared."""
    sides = [("base", base), ("current", current)]
    files = {label: run_side(side.tree, work, label, side.commit, benchmarks, side.environment)
             for label, side in (sides[::-1] if current_first else sides)}  # fmt: skip
    before, after = files["base"], files["current"]
    return compare_results(
        load_results(before) if before else {}, load_results(after) if after else {}
    )


def ab_gate(base: Side, current: Side, work: Path) -> GateResult:
    """The gate profile for both sides; the slower benchmarks measured again in up to
    ``CONFIRM_ROUNDS`` rounds of alternating order, and only those slower in every round
    kept as regressions. Prints what it finds."""
    first = ab_round(base, current, work / "round1", GATE.regexes())
    say(first.text())
    slow = {f.benchmark for f in first.regressions if f.unit == "seconds"}
    for round_number in range(2, 2 + CONFIRM_ROUNDS):
        if not slow:
            break
        current_first = round_number % 2 == 0
        say(f"gate: round {round_number}: measuring the {len(slow)} slower benchmarks again, "
            f"{'this tree' if current_first else 'the base'} first")  # fmt: skip
        again = ab_round(base, current, work / f"round{round_number}",
                         ["^" + re.escape(name) + "$" for name in sorted(slow)],
                         current_first)  # fmt: skip
        say(again.text())
        slow &= {f.benchmark for f in again.regressions}
    first.regressions = [f for f in first.regressions if f.unit != "seconds" or f.benchmark in slow]
    return first


def gate(base_rev: str, repository: Path) -> int:
    """The A/B gate of this tree against ``base_rev`` (checked out in a worktree); prints
    what it found; 0 pass, 1 regression."""
    top = subprocess.run(["git", "-C", str(repository), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    git = ["git", "-C", top]

    def resolve(rev: str) -> str:
        return subprocess.run([*git, "rev-parse", rev], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    try:
        base_commit, head = resolve(base_rev), resolve("HEAD")
    except subprocess.CalledProcessError:
        say(f"gate: skipped: {base_rev} is not a commit of this clone (a shallow clone?)")
        return 0
    listed = subprocess.run([*git, "ls-tree", "--name-only", base_commit, "benchmarks/"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    if not listed.strip():
        say(f"gate: {base_rev} has no benchmarks/ folder; nothing to compare against: pass")
        return 0
    say(f"gate: {base_rev} ({base_commit[:8]}) against this tree ({head[:8]})")
    with tempfile.TemporaryDirectory(prefix="bce-gate-") as folder:
        work = Path(folder)
        tree = work / "base-tree"
        subprocess.run([*git, "worktree", "add", "--detach", str(tree), base_commit],
                       capture_output=True, check=True)  # fmt: skip
        try:
            found = ab_gate(Side(tree, base_commit), Side(Path(top), head), work)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)],
                           capture_output=True, check=False)  # fmt: skip
    say(
        "gate: FAIL"
        if found.regressions
        else f"gate: pass (a slowdown must repeat in {CONFIRM_ROUNDS} more rounds)"
    )
    return 1 if found.regressions else 0


def say(line: str) -> None:
    """Print now: CI logs show a long gate's progress as it happens."""
    print(line, flush=True)


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "seconds":
        for suffix, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
            if value >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value / 1e-9:.3g} ns"
    return f"{value:g} {unit}"
