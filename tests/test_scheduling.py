"""Work units, the scheduler's order and affinity, and shards: every check in exactly one
shard, the same partition in every job, and N shard reports merging into one run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli import main
from conformance.engine.matrix import build_plan, group_by_file
from conformance.reports.document import load_document
from conformance.running.scheduling import (
    CostModel,
    Scheduler,
    ShardError,
    Unit,
    parse_shard,
    shard,
    units,
)


@pytest.fixture(scope="module")
def full_plan():
    return build_plan(profile="full", devices=["cpu", "gpu"])


@pytest.mark.integration
@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_every_check_is_in_exactly_one_shard(full_plan, n):
    parts = [shard(full_plan.checks, k, n) for k in range(1, n + 1)]
    every = [i for part in parts for i in part]
    assert sorted(every) == list(range(len(full_plan.checks)))
    assert all(parts), "no shard is empty"


@pytest.mark.integration
def test_shards_are_the_same_in_every_job(full_plan):
    again = build_plan(profile="full", devices=["cpu", "gpu"])
    assert [c.id for c in full_plan.checks] == [c.id for c in again.checks]
    assert shard(full_plan.checks, 2, 3) == shard(again.checks, 2, 3)


def test_shards_are_balanced_by_cost(full_plan):
    costs = CostModel.shipped()
    loads = [
        sum(costs.check_s(full_plan.checks[i]) for i in shard(full_plan.checks, k, 3, costs))
        for k in (1, 2, 3)
    ]
    biggest_unit = max(u.cost_s for u in units(full_plan.checks, costs))
    # greedy longest-first: no shard exceeds the lightest by more than the largest unit
    assert max(loads) - min(loads) <= biggest_unit


def test_units_keep_one_adapter_and_dtype_in_plan_order(full_plan):
    for unit in units(full_plan.checks, CostModel(), max_unit_s=0.5):
        checks = [full_plan.checks[i] for i in unit.indices]
        assert len({(c.adapter.name, c.dtype) for c in checks}) == 1
        assert list(unit.indices) == sorted(unit.indices)


def test_the_scheduler_prefers_the_workers_framework_then_a_free_one_then_the_largest():
    work = [
        Unit((0,), "torch", 5.0),
        Unit((1,), "jax", 9.0),
        Unit((2,), "numpy", 1.0),
        Unit((3,), "torch", 2.0),
    ]
    scheduler = Scheduler(work)
    assert scheduler.next_for("torch", {"jax"}).indices == (0,)  # its own, largest first
    assert scheduler.next_for(None, {"jax", "torch"}).indices == (2,)  # nobody holds numpy
    assert scheduler.next_for("numpy", {"torch"}).indices == (1,)  # then the largest
    assert scheduler.next_for("numpy", {"torch"}).indices == (3,)
    assert scheduler.next_for("numpy", set()) is None


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_a_shard_must_be_k_of_n(text):
    with pytest.raises(ShardError):
        parse_shard(text)


@pytest.mark.integration
def test_three_shard_reports_merge_into_the_unsharded_run(tmp_path: Path, two_cases: Path):
    common = ["--adapters", "numpy.*,torch.nn.functional.binary_cross_entropy",
              "--cases", str(two_cases), "--devices", "cpu", "--jobs", "1"]  # fmt: skip
    whole = tmp_path / "whole.json"
    assert main(["run", *common, "--output", str(whole)]) == 0
    shards = []
    for k in (1, 2, 3):
        path = tmp_path / f"shard{k}.json"
        assert main(["run", *common, "--shard", f"{k}/3", "--output", str(path)]) == 0
        shards.append(path)
        assert load_document(path)["runs"][0]["options"]["shard"] == f"{k}/3"
    merged = tmp_path / "merged.json"
    assert main(["merge", *map(str, shards), "-o", str(merged)]) == 0
    verdicts = {c["id"]: c["verdict"] for c in load_document(whole)["checks"]}
    combined = load_document(merged)
    assert {c["id"]: c["verdict"] for c in combined["checks"]} == verdicts
    assert combined["findings"] == []
    assert main(["compare", str(whole), str(merged)]) == 0


@pytest.mark.integration
def test_pytest_xdist_runs_each_part_once_with_the_same_outcomes(two_cases: Path):
    """Under pytest-xdist each xdist worker runs its own part of the matrix in one engine
    run: the outcomes are those of a run without xdist."""
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    common = [sys.executable, "-m", "pytest", "conformance/test_matrix.py", "-q", "-p",
              "no:cacheprovider", "--cases", str(two_cases), "--adapters", "numpy.*",
              "-k", "test_checks"]  # fmt: skip
    outcomes = []
    for extra in ([], ["-n", "2"]):
        done = subprocess.run([*common, *extra], cwd=root, capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:]
        summary = done.stdout.strip().splitlines()[-1]
        outcomes.append(re.findall(r"(\d+) (passed|failed|skipped|xfailed|error)", summary))
    assert outcomes[0] == outcomes[1]
    planned = build_plan(case_paths=[two_cases], adapter_globs=["numpy.*"]).checks
    tests = group_by_file(planned)
    assert sum(int(count) for count, _ in outcomes[1]) == len(tests)  # each exactly once
