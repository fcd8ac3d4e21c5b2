"""Isolation: real crashes (a segfault through ctypes, abort), a real hang, SIGTERM and
Ctrl-C against a real run. Each costs its own check at most; no healthy result is lost; the
report is always written and its ``complete`` flag tells the truth. Every test here is
bounded in time (short check timeouts, subprocess timeouts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.served import ServedProcess
from conformance.application import RunSpec, planned, run_conformance
from conformance.cli import main
from conformance.reports.document import load_document

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent

BROKEN = """
import ctypes, os, time

import numpy as np

from adapters.function import bce_adapter


def _stable(p, y):
    return -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))


@bce_adapter(form="probs", reductions=("mean",), name="broken.segfault")
def segfault(p, y):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


@bce_adapter(form="probs", reductions=("mean",), name="broken.abort")
def abort(p, y):
    os.abort()


@bce_adapter(form="probs", reductions=("mean",), name="broken.hang")
def hang(p, y):
    time.sleep(3600)


@bce_adapter(form="probs", reductions=("mean",), name="broken.segfault-at-half")
def segfault_at_half(p, y):
    if p.size == 1 and float(p[0]) == 0.5:
        ctypes.string_at(0)
    return _stable(p, y)


@bce_adapter(form="probs", reductions=("mean",), name="broken.exit")
def exit_(p, y):
    raise SystemExit(3)


@bce_adapter(form="probs", reductions=("mean",), name="broken.os-exit")
def os_exit(p, y):
    os._exit(3)


@bce_adapter(form="probs", reductions=("mean",), name="broken.escaping-child")
def escaping_child(p, y):
    import subprocess

    child = subprocess.Popen(["sleep", "600"], start_new_session=True)  # leaves the group
    with open(os.environ["BCE_TEST_CHILD_PIDS"], "a") as pids:
        pids.write(f"{child.pid}\\n")
    time.sleep(3600)


@bce_adapter(form="probs", reductions=("mean",), name="broken.slow")
def slow(p, y):
    time.sleep(0.3)
    return _stable(p, y)


@bce_adapter(form="probs", reductions=("mean",), name="broken.slower")
def slower(p, y):  # its quick profile: 74 checks that run, about 25 s on 3 workers
    time.sleep(1.0)
    return _stable(p, y)
"""


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    return path


def _checks(report: dict, adapter: str) -> list[dict]:
    return [c for c in report["checks"] if c["adapter"] == adapter]


def _run(tmp_path: Path, broken: Path, names: list[str], *args: str) -> tuple[int, dict]:
    out = tmp_path / "report.json"
    specs = [a for name in names for a in ("--adapter", f"{broken}:{name}")]
    code = main(["run", "--output", str(out), "--devices", "cpu", *specs, *args])
    return code, load_document(out)


def test_crashes_and_hangs_cost_their_checks_and_no_healthy_one(tmp_path, broken):
    healthy_code, healthy = _run(tmp_path, broken, [], "--adapters", "numpy.stable")
    # a 5 s timeout: long past any crash, yet above a loaded machine's worker start-up
    code, report = _run(
        tmp_path, broken, ["segfault", "abort", "hang", "exit_", "os_exit"],
        "--adapters", "broken.*,numpy.stable", "--timeout", "5", "--jobs", "2",
    )  # fmt: skip
    assert healthy_code == 0 and code == 1
    verdicts = {c["id"]: c["verdict"] for c in _checks(report, "numpy.stable")}
    assert verdicts == {c["id"]: c["verdict"] for c in healthy["checks"]}  # nothing lost
    details = {c["adapter"]: c["detail"] for c in report["checks"] if c["verdict"] == "error"}
    assert "killed by SIGSEGV (Segmentation fault)" in details["broken.segfault"]
    assert "and again when the check was retried" in details["broken.segfault"]
    assert "killed by SIGABRT" in details["broken.abort"]
    assert details["broken.hang"].startswith("timed out after 5 s")
    assert details["broken.exit"] == "the check stopped with SystemExit: 3"
    assert "it exited with status 3" in details["broken.os-exit"]
    # three failures in a row: the adapter's other checks are not run, and the report says so
    assert report["complete"] is False
    reasons = report["missing"]["by_reason"]
    for name in ("broken.segfault", "broken.abort", "broken.hang", "broken.os-exit"):
        (reason,) = [r for r in reasons if r.startswith(f"not run: {name} crashed or hung")]
        assert all(i.startswith(f"{name}-") for i in reasons[reason])
    assert report["missing"]["count"] == sum(len(ids) for ids in reasons.values())
    assert len(report["checks"]) + report["missing"]["count"] == report["planned_checks"]


def test_one_crashing_check_is_an_error_and_the_run_is_complete(tmp_path, broken, two_cases):
    cases = two_cases
    code, report = _run(
        tmp_path, broken, ["segfault_at_half"],
        "--adapters", "broken.segfault-at-half", "--cases", str(cases), "--dtypes", "float64",
    )  # fmt: skip
    by_case = {c["case"]: c for c in report["checks"] if c["id"].endswith(":mean")}
    assert by_case["two/half"]["verdict"] == "error"
    assert "SIGSEGV" in by_case["two/half"]["detail"]
    assert by_case["two/quarter"]["verdict"] == "pass"  # ran on the restarted worker
    assert report["complete"] is True and report["missing"]["count"] == 0
    assert code == 1  # an unexplained error


def test_a_timeout_kills_children_that_left_for_a_new_session(
    tmp_path, broken, two_cases, monkeypatch
):
    pids = tmp_path / "child-pids.txt"
    monkeypatch.setenv("BCE_TEST_CHILD_PIDS", str(pids))
    code, report = _run(
        tmp_path, broken, ["escaping_child"], "--adapters", "broken.escaping-child",
        "--cases", str(two_cases), "--dtypes", "float64", "--timeout", "2",
    )  # fmt: skip
    assert code == 1
    assert {c["verdict"] for c in report["checks"] if c["verdict"] != "skip"} == {"error"}
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2  # one per case, each in its own session
    time.sleep(0.5)  # SIGKILL is delivered at once; give the kernel a moment to reap
    for pid in started:
        state = Path(f"/proc/{pid}/stat")
        alive = state.exists() and state.read_text().split(")")[-1].split()[0] != "Z"
        assert not alive, f"child {pid} outlived its killed worker"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_leave_a_valid_partial_report(tmp_path, broken, how):
    out = tmp_path / "report.json"
    command = [
        sys.executable, "-m", "conformance.cli", "run", "--output", str(out),
        "--adapter", f"{broken}:slower", "--adapters", "broken.slower", "--devices", "cpu",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # as from a terminal: SIGINT at its default (a pytest-xdist worker ignores it, and
        # a process started with SIGINT ignored keeps ignoring Ctrl-C, as background jobs do)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    time.sleep(8)  # start-up, then a few 1 s checks
    process.send_signal(how)
    _, err = process.communicate(timeout=60)
    report = load_document(out)
    name = "SIGTERM" if how == signal.SIGTERM else "Ctrl-C (SIGINT)"
    assert process.returncode == 1, err.decode()[-2000:]
    assert report["complete"] is False and report["interrupted"] == name
    done = [c for c in report["checks"] if c["verdict"] != "skip"]
    assert done and "error" not in {c["verdict"] for c in done}  # no check was cut short
    assert report["missing"]["count"] > 0
    assert all(name in reason for reason in report["missing"]["by_reason"])
    assert len(report["checks"]) + report["missing"]["count"] == report["planned_checks"]
    assert f"interrupted by {name}" in err.decode()
    pattern = "bce-conformance-worker|conformance.running.supervisor"
    leftover = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    assert str(process.pid) not in leftover.stdout


def test_pytest_route_turns_crash_and_hang_into_failed_tests(broken, two_cases):
    cases = two_cases
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_matrix.py", "-q", "-p",
         "no:cacheprovider", "--cases", str(cases), "--devices", "cpu", "--dtypes", "float64",
         "--adapter", f"{broken}:segfault", "--adapter", f"{broken}:hang",
         "--adapter", f"{broken}:slow", "--adapters", "broken.*", "--check-timeout", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "killed by SIGSEGV" in out and "timed out after 2 s" in out
    # one test per adapter and case file: segfault and hang fail, slow and the loader pass
    assert "2 failed" in out and "2 passed" in out, out[-1500:]


def test_keras_style_helper_that_hangs_is_killed_and_replaced():
    from adapters import keras_backends

    helper = ServedProcess("the Keras test-hang helper", _Hangs)
    keras_backends._HELPERS["test-hang"] = helper
    start = time.monotonic()
    with pytest.raises(keras_backends.RemoteError, match="did not answer in 1 s; it was killed"):
        keras_backends._request("test-hang", "anything", 1.0)
    assert time.monotonic() - start < 30
    assert "test-hang" not in keras_backends._HELPERS  # never read again
    assert not helper.process.is_alive()


def test_keras_style_helper_that_dies_is_reported_and_replaced():
    from adapters import keras_backends

    keras_backends._HELPERS["test-die"] = ServedProcess("the Keras test-die helper", _Dies)
    with pytest.raises(keras_backends.RemoteError, match=r"helper died .*exited with status 3"):
        keras_backends._request("test-die", "anything", 30.0)
    assert "test-die" not in keras_backends._HELPERS


class _Hangs:
    """A served process's handler that never answers."""

    def __call__(self, message: object) -> Iterator[object]:
        time.sleep(3600)
        yield message


class _Dies:
    """A served process's handler whose process exits instead of answering."""

    def __call__(self, message: object) -> Iterator[object]:
        os._exit(3)
        yield message


def test_workers_run_the_cases_the_supervisor_read(two_cases):
    """Case files are read once, by the process that plans the run: its workers are sent the
    cases, so a file gone after planning still runs in every worker."""
    spec = RunSpec(adapter_globs=["numpy.*"], case_paths=[two_cases], devices=["cpu"], jobs=2)
    plan, _ = planned(spec)
    (two_cases / "two.yaml").unlink()
    run = run_conformance(spec, plan=plan)
    verdicts = {result.verdict.value for result in run.outcome.results}
    assert len(run.outcome.results) == len(plan.checks) > 0
    assert "error" not in verdicts and "pass" in verdicts
