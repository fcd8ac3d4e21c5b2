"""The HTML report in a real browser: headless Chromium loads the file offline, runs its
script, and the DOM it dumps is checked. A screenshot is left under reports/screenshots/
for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_STEM = "<img src=x onerror=document.title='pwned-by-file-name'>"
HOSTILE_CASES = """description: markup in every field a report shows
cases:
  - id: markup
    description: >-
      <script>document.title='pwned-by-script'</script>
      <img src=x onerror="document.title='pwned-by-img'">
    form: probs
    input: [0.0, 0.5]
    target: [0.0, 1.0]
"""


@pytest.fixture(scope="module")
def html_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    cases = folder / "cases"
    cases.mkdir()
    (cases / f"{HOSTILE_STEM}.yaml").write_text(HOSTILE_CASES)
    for shipped in ("edge-probabilities.yaml", "extreme-logits.yaml"):
        (cases / shipped).write_text((ROOT / "cases" / shipped).read_text())
    report = folder / "run.json"
    main(["run", "--output", str(report), "--devices", "cpu", "--adapters", "numpy.*",
          "--cases", str(cases)])  # fmt: skip
    page = folder / "run.html"
    assert main(["report", str(report), "-o", str(page)]) == 0
    return page


def _dom(chromium, page: Path, fragment: str = "") -> str:
    url = page.as_uri() + (f"#{fragment}" if fragment else "")
    return chromium("--virtual-time-budget=10000", "--dump-dom", url)


def test_the_page_is_self_contained(html_report):
    text = html_report.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", text)
    assert "default-src 'none'" in text  # the CSP forbids fetching anything


def test_markup_in_case_names_and_descriptions_renders_as_text(chromium, html_report):
    case = f"{HOSTILE_STEM}/markup"
    dom = _dom(chromium, html_report, f"cell=numpy.textbook|{case}")
    assert 'data-ready="true"' in dom, "the report's script did not finish"
    assert "<title>BCE conformance report</title>" in dom  # no handler ran
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    assert "&lt;script&gt;document.title='pwned-by-script'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=document.title='pwned-by-file-name'&gt;" in dom
    assert "<img src=" not in dom and "<script>document" not in dom


def test_filters_and_a_clicked_cell_show_values_and_the_registry_link(chromium, html_report):
    cell = "numpy.textbook|edge-probabilities/p-zero-target-zero"
    dom = _dom(chromium, html_report, f"dtype=float32&verdict=fail&cell={cell}")
    matrix = re.search(r'<table id="matrix-table">(.*?)</table>', dom, re.S).group(1)
    assert "numpy.textbook" in matrix and "numpy.stable" not in matrix  # stable never fails
    detail = re.search(r'<div id="detail">(.*?)</div>\s*</section>', dom, re.S).group(1)
    assert "fail: numpy.textbook-cpu-float32-edge-probabilities/p-zero-target-zero:none" in detail
    assert "-float64-" not in detail  # the dtype filter applies to the cell too
    assert '<a href="https://docs.scipy.org/' in detail  # the registry entry's link
    assert "copy reproducer</button>" in detail
    snippet = re.search(r'<pre class="reproducer">(.*?)</pre>', detail, re.S).group(1)
    assert "import numpy as np" in snippet and "print('returned:'" in snippet
    # index, input, target, returned, correct, error: NaN where 0 * log 0 must be 0
    assert "<tr><td>0</td><td>0</td><td>0</td><td>nan</td><td>0</td><td>inf</td></tr>" in detail


def test_plots_render_and_a_screenshot_is_kept(chromium, html_report):
    dom = _dom(chromium, html_report)
    assert dom.count("<svg") >= 3
    shots = ROOT / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "html-report.png"
    shot.unlink(missing_ok=True)
    chromium("--window-size=1400,2400", f"--screenshot={shot}", html_report.as_uri())
    assert shot.stat().st_size > 20_000  # a blank page is ~5 kB
