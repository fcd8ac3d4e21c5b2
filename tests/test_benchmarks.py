"""The asv benchmarks, for real: the regression gate catching a slowdown and a numerical
perturbation introduced on purpose (a test-only adapter, ``tests/fixtures/tunable_bce.py``)
and passing when nothing changed; and the published asv site, served on localhost and
loaded in headless Chromium, showing graphs with data for this commit.

Each asv run here covers a few adapters (``BCE_BENCH_ONLY``) so the file takes minutes,
not the hour of the full profile.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.speed.gate import Side, ab_gate, run_side
from conformance.speed.site import vendor

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "reports" / "screenshots"
TUNABLE = {
    "BCE_BENCH_ADAPTERS": f"{ROOT / 'tests' / 'fixtures' / 'tunable_bce.py'}:tunable_bce",
    "BCE_BENCH_ONLY": "test.tunable_bce",
}

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def asv_machine() -> None:
    """asv refuses to run before a machine is described; a fresh machine has none."""
    if not (Path.home() / ".asv-machine.json").exists():
        subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], check=True,
                       capture_output=True)  # fmt: skip


def _gate(tmp_path: Path, head: str, **current: str) -> str:
    base = Side(ROOT, head, TUNABLE)
    found = ab_gate(base, Side(ROOT, head, {**TUNABLE, **current}), tmp_path)
    return "\n".join(f.line() for f in found.regressions)


def test_gate_passes_when_nothing_changed(tmp_path: Path, head: str) -> None:
    assert _gate(tmp_path, head) == ""


def test_gate_catches_a_slowdown(tmp_path: Path, head: str) -> None:
    regressions = _gate(tmp_path, head, BCE_TEST_SLOWDOWN="4")
    assert (
        "speed.Forward.track_seconds('test.tunable_bce', 1000000, 'float32', 'cpu')" in regressions
    )
    assert "x slower, limit 1.3x" in regressions
    assert "ULPs" not in regressions  # the numbers did not change


def test_gate_catches_a_numerical_perturbation(tmp_path: Path, head: str) -> None:
    regressions = _gate(tmp_path, head, BCE_TEST_PERTURB_ULPS="4")
    assert "agreement.Errors.track_max_ulps('test.tunable_bce'" in regressions
    # No speed assertion here: whether one multiplication more per element reads as
    # "slower" depends on the machine's load during the rounds, not on the gate's code;
    # test_gate_passes_when_nothing_changed covers the gate's speed verdict on an
    # unchanged tree.


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, head: str) -> Path:
    """A published asv site: numpy.stable's forward time at 1e3 and 1e6, its roofline, the
    machine figures and its agreement, for this commit."""
    work = tmp_path_factory.mktemp("asv-site")
    benchmarks = [
        r"Forward.track_seconds\('numpy.stable', (1000|1000000), 'float32', 'cpu'\)",
        r"Roofline.track_percent\('numpy.stable', 10000000, 'float32', 'forward'\)",
        r"Machine", r"agreement",
    ]  # fmt: skip
    run_side(ROOT, work, "site", head, benchmarks, {"BCE_BENCH_ONLY": "numpy.stable"})
    config = work / "asv-site.json"
    subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(config)], check=True,
                   capture_output=True)  # fmt: skip
    vendor(work / "html")  # as make bench does: no CDN is reachable from here
    return work / "html"


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_every_benchmark_has_a_point_for_this_commit(site: Path, head: str) -> None:
    index = json.loads((site / "index.json").read_text())
    revision = index["revision_to_hash"]
    ours = [int(r) for r, h in revision.items() if h == head]
    assert ours, "this commit is not in the published site"
    graphs = [g for g in (site / "graphs").rglob("*.json") if g.name != "summary.json"]
    names = {g.stem for g in graphs}
    expected_graphs = (
        "speed.Forward.track_seconds", "roofline.Roofline.track_percent",
        "agreement.Errors.track_max_ulps", "agreement.Errors.track_median_ulps",
        "agreement.Verdicts.track_checks", "roofline.Machine.track_copy_bandwidth",
    )  # fmt: skip
    for expected in expected_graphs:
        assert expected in names, f"no graph for {expected}"
    for graph in graphs:  # [[revision, value or one value per parameter set], ...]
        points = {point[0]: point[1] for point in json.loads(graph.read_text())}
        values = [v for r, v in points.items() if r in ours]
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        assert any(x is not None for x in flat), f"no value for this commit in {graph}"


def test_site_renders_graphs_in_chromium(chromium, served: str) -> None:
    dom = chromium("--virtual-time-budget=15000", "--dump-dom", served)
    assert "speed.Forward.track_seconds" in dom or "track_seconds" in dom
    graph = served + "#agreement.Errors.track_max_ulps?adapter='numpy.stable'"
    dom = chromium("--virtual-time-budget=15000", "--dump-dom", graph)
    assert "flot-base" in dom, "the graph canvas did not render"
    assert "track_max_ulps" in dom
    assert "code.jquery.com" not in dom and "cdnjs" not in dom  # vendored: works offline
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "asv-site.png"
    chromium(
        "--window-size=1400,1000", "--virtual-time-budget=15000", f"--screenshot={shot}", graph
    )
    assert shot.stat().st_size > 10_000  # a blank page compresses to a few kB
