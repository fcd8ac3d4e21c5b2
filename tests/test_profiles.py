"""Each profile is defined once, in ``conformance/profiles.py``, and every reader takes it
from there: the command line's and pytest's ``--profile``, the matrix plan, the Makefile's
``bench*`` targets (``make -n``), the gate; every ``BCE_BENCH_*`` variable in the code is
declared there; and each benchmark profile selects real asv benchmarks, the same ones as the
regexes the Makefile and ``gate.py`` held before the profiles moved here.

Benchmark names come from asv's own discovery (``asv_runner``), run in a fresh process per
environment because the benchmarks read ``BCE_BENCH_*`` when they are imported, and the
selection from asv's own ``-b`` filter.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from asv.benchmarks import Benchmarks

from conformance import profiles
from conformance.cli import _parser
from conformance.engine.matrix import build_plan
from conformance.profiles import (
    BENCH_PROFILES,
    BENCH_VARIABLES,
    MATRIX_PROFILES,
    PROFILE_VARIABLE,
)
from conformance.speed import gate

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"bench": "all", "bench-quick": "quick", "bench-smoke": "smoke",
           "bench-versions": "versions"}  # fmt: skip
BEFORE = {
    "quick": [
        r"Forward.track_seconds\(.*, (1000|1000000), 'float32', 'cpu'\)",
        r"Roofline.track_percent\(.*, 'float32', 'forward'\)",
        r"Compile.track_first_call_seconds\(.*, 1000000, .*'forward'\)",
        r"PeakMemory.peakmem_forward\(.*, 1000000\)", "Machine", "agreement",
    ],
    "smoke": [
        r"Forward(Backward)?.track_seconds\(.*, 1000, 'float32', 'cpu'\)",
        r"Compile.track_first_call_seconds\(.*, 1000, 'float32', ",
        r"PeakMemory.peakmem_forward.*\(.*, 1000000\)",
        r"Roofline.track_percent\(.*, 'float32', 'forward'\)", "Machine", "agreement",
    ],
    "gate": [r"Forward.track_seconds\(.*, 1000000, 'float32', 'cpu'\)", "agreement"],
    "versions": [r"Forward.track_seconds\(.*, (1000|1000000), 'float32', 'cpu'\)", "agreement"],
}  # fmt: skip
"""The ``-b`` regexes of the Makefile (QUICK, SMOKE, VERSIONS) and of ``gate.py``
(GATE_BENCHMARKS) before the profiles were defined in ``conformance/profiles.py``: the
profiles select the same benchmarks. A profile changed on purpose changes its entry here."""
DISCOVER = "import sys; from asv_runner.discovery import list_benchmarks; " \
    "list_benchmarks('benchmarks', sys.stdout)"  # fmt: skip


@pytest.fixture(scope="module")
def discovered() -> dict[str, list[dict[str, Any]]]:
    """asv's discovery of the benchmarks under each benchmark profile's environment (one
    process per distinct environment, run side by side). The agreement profile changes what
    the agreement benchmarks compute, not their names, so it is left out."""
    environments = {
        name: {k: v for k, v in p.environment().items() if k != PROFILE_VARIABLE.name}
        for name, p in BENCH_PROFILES.items()
    }
    distinct = {json.dumps(env, sort_keys=True) for env in environments.values()}
    command = [sys.executable, "-c", DISCOVER]
    running = {
        key: subprocess.Popen(
            command,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_environment(json.loads(key)),
        )
        for key in distinct
    }
    listed = {key: json.loads(process.communicate()[0]) for key, process in running.items()}
    return {name: listed[json.dumps(env, sort_keys=True)] for name, env in environments.items()}


def _environment(profile_environment: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without BCE_BENCH_* of its own, then the profile's."""
    names = {v.name for v in BENCH_VARIABLES}
    kept = {k: v for k, v in os.environ.items() if k not in names}
    return {**kept, "PYTHONPATH": str(ROOT), **profile_environment}


def _selected(benchmarks: list[dict[str, Any]], regexes: list[str]) -> set[str]:
    """What ``asv run -b REGEX ...`` runs, by asv's own filter: ``name(value, ...)``."""
    chosen = Benchmarks(SimpleNamespace(benchmark_dir="benchmarks"), benchmarks, regexes)
    names = set()
    for benchmark in benchmarks:
        indices = chosen.benchmark_selection.get(benchmark["name"])
        if benchmark["name"] not in chosen:
            continue
        if indices is None:
            names.add(benchmark["name"])
            continue
        combos = list(itertools.product(*benchmark["params"]))
        names.update(f"{benchmark['name']}({', '.join(combos[i])})" for i in indices)
    return names


@pytest.mark.integration
def test_each_pick_selects_real_benchmarks_by_their_parameter_names(discovered):
    for name, profile in BENCH_PROFILES.items():
        by_name = {b["name"]: b for b in discovered[name]}
        for pick in profile.picks:
            assert _selected(discovered[name], [pick.regex()]), f"{name}: {pick} selects nothing"
            if pick.params:
                assert [key for key, _ in pick.params] == by_name[pick.name]["param_names"]


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_each_profile_selects_what_it_did_before(discovered, name):
    benchmarks = discovered[name]
    now = _selected(benchmarks, BENCH_PROFILES[name].regexes())
    assert now == _selected(benchmarks, BEFORE[name])
    assert now


def test_the_all_profile_selects_every_benchmark(discovered):
    everything = _selected(discovered["all"], [])
    assert len(everything) > 1000
    assert _selected(discovered["all"], BENCH_PROFILES["all"].regexes()) == everything


def _make_dry_run(target: str) -> str:
    """The ``asv run`` command ``make -n TARGET`` prints, its continuation lines joined."""
    shown = subprocess.run(["make", "-n", f"BIN={Path(sys.executable).parent}", target],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout  # fmt: skip
    commands = [line for line in shown.replace("\\\n", " ").splitlines() if "asv run " in line]
    assert len(commands) == 1, shown
    return commands[0]


@pytest.mark.integration
@pytest.mark.parametrize(("target", "name"), sorted(TARGETS.items()))
def test_make_targets_take_selection_and_environment_from_the_profile(target, name):
    words = shlex.split(_make_dry_run(target))
    assignments = dict(w.split("=", 1) for w in itertools.takewhile(lambda w: "=" in w, words))
    selection = [w for i, w in enumerate(words) if w == "-b" or (i and words[i - 1] == "-b")]
    profile = BENCH_PROFILES[name]
    assert selection == profile.asv_args()
    bench_assignments = {k: v for k, v in assignments.items() if k.startswith("BCE_BENCH_")}
    assert bench_assignments == profile.environment()


def test_the_makefile_writes_no_benchmark_selection_of_its_own():
    makefile = (ROOT / "Makefile").read_text()
    assert not re.search(r"(^|\s)-b\s", makefile)
    assert not re.search(r"BCE_BENCH_\w+=", makefile)


def test_the_gate_runs_the_gate_profile(monkeypatch, tmp_path):
    seen = []

    def fake_run(command, env, **kwargs):
        seen.append((command, env))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(gate.subprocess, "run", fake_run)
    monkeypatch.delenv("BCE_BENCH_PROFILE", raising=False)
    assert gate.run_side(ROOT, tmp_path, "base", "0" * 40, gate.GATE.regexes()) is None
    [(command, env)] = seen
    assert command[command.index("-b") :] == BENCH_PROFILES["gate"].asv_args()
    assert env["BCE_BENCH_PROFILE"] == "quick"


def test_every_bench_variable_in_the_code_is_declared_once():
    declared = [v.name for v in BENCH_VARIABLES]
    assert len(set(declared)) == len(declared)
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    found: dict[str, set[str]] = {}
    for path in files:
        if path.endswith(".md") or not (ROOT / path).is_file():
            continue
        for variable in re.findall(r"BCE_BENCH_\w+", (ROOT / path).read_text(errors="ignore")):
            found.setdefault(variable, set()).add(path)
    undeclared = {v: sorted(paths) for v, paths in found.items() if v not in declared}
    assert not undeclared, f"BCE_BENCH_* not declared in conformance/profiles.py: {undeclared}"


def test_the_module_prints_shell_words_for_make(capsys):
    for name, profile in BENCH_PROFILES.items():
        profiles.main(["asv-args", name])
        assert shlex.split(capsys.readouterr().out) == profile.asv_args()
        profiles.main(["env", name])
        words = shlex.split(capsys.readouterr().out)
        assert dict(w.split("=", 1) for w in words) == profile.environment()
    profiles.main(["list"])
    listing = capsys.readouterr().out
    assert all(v.name in listing for v in BENCH_VARIABLES)
    assert all(f"  {name}: " in listing for name in [*MATRIX_PROFILES, *BENCH_PROFILES])


def _pytest_options() -> dict[str, dict[str, Any]]:
    """The options the root ``conftest.py`` gives pytest, by name, as it declares them."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    options: dict[str, dict[str, Any]] = {}
    group = SimpleNamespace(addoption=lambda name, **kwargs: options.setdefault(name, kwargs))
    module.pytest_addoption(SimpleNamespace(getgroup=lambda name: group))
    return options


def test_the_command_line_and_pytest_offer_the_matrix_profiles():
    run = next(a for a in _parser()._actions if a.dest == "command").choices["run"]
    option = next(a for a in run._actions if a.dest == "profile")
    assert list(option.choices) == list(MATRIX_PROFILES)
    assert option.default == profiles.DEFAULT_MATRIX_PROFILE
    assert option.help == profiles.matrix_help()
    pytest_option = _pytest_options()["--profile"]
    assert list(pytest_option["choices"]) == list(MATRIX_PROFILES)
    assert pytest_option["default"] == profiles.DEFAULT_MATRIX_PROFILE
    assert pytest_option["help"] == profiles.matrix_help()


@pytest.mark.parametrize("name", sorted(MATRIX_PROFILES))
def test_the_plan_follows_the_matrix_profile(name):
    profile = MATRIX_PROFILES[name]
    plan = build_plan(profile=name, devices=["cpu"], case_paths=[ROOT / "cases" / "empty.yaml"])
    assert {c.dtype for c in plan.checks} == set(profile.dtypes)
    assert any(a.extended for a in plan.adapters) == profile.extended
    named = build_plan(profile=name, adapter_globs=["torch.compile*"], devices=["cpu"],
                       case_paths=[ROOT / "cases" / "empty.yaml"])  # fmt: skip
    assert named.adapters and all(a.extended for a in named.adapters)


def test_an_unknown_matrix_profile_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown profile 'huge'; choose from quick, full"):
        build_plan(profile="huge")


def test_a_pick_regex_is_anchored_and_exact():
    pick = profiles.pick("speed.Forward.track_seconds",
                         {"adapter": None, "size": (1000, 10), "dtype": "float32"})  # fmt: skip
    regex = re.compile(pick.regex())
    assert regex.search("speed.Forward.track_seconds('numpy.stable', 1000, 'float32')")
    assert regex.search("speed.Forward.track_seconds('a', 10, 'float32')")
    assert not regex.search("speed.Forward.track_seconds('a', 100, 'float32')")
    assert not regex.search("speed.ForwardBackward.track_seconds('a', 10, 'float32')")
    assert not regex.search("x.speed.Forward.track_seconds('a', 10, 'float32')")
    assert re.search(profiles.pick("agreement").regex(), "agreement.Errors.track_max_ulps('a')")
    assert not re.search(profiles.pick("agreement").regex(), "agreements.X")
