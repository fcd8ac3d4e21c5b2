"""The documentation, tested: README.md's and FINDINGS.md's links and anchors lead somewhere
(``mkdocs build --strict`` checks those of docs/), and every command and Python script that
README.md, FINDINGS.md and docs/ show runs and exits 0.

A command is a ``$ `` line of a ``console`` block, run from the repository root; the
commands of one block run in order, in one scratch copy of the repository (links to its
files, an empty ``reports/`` but for ``reports/examples``), so they may use what the block's
earlier commands wrote. A command too long for a test is in ``NARROWED``, with the command
that stands in for it and why; a ``make`` target is never run (it may install), only
printed with ``make -n``, which must show the line its stand-in narrows. A ``python`` block
is a script: the scripts of one framework run in one interpreter, each in a fresh
namespace.

Marked ``docs``: ``make docs`` runs this file, ``make unit`` and ``make integration`` leave it
out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "FINDINGS.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE_THE_SITE = PAGES[:2]
"""The pages mkdocs does not see (they are outside docs_dir), whose links this file checks."""
TIMEOUT_S = 300
"""Per block or framework group: several times the slowest one here (a full profile's
pytest on one adapter; this file's own durations: ``pytest -m docs tests/test_docs.py
--durations=0``)."""
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")
PROMPT = "$ "


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language and its text, dedented."""

    page: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def commands(self) -> list[str]:
        return [line[len(PROMPT) :] for line in self.text.splitlines() if line.startswith(PROMPT)]


@dataclass(frozen=True)
class StandIn:
    """What runs instead of a documented command, and why. ``make``: the target ``make -n``
    must print, and a line of its recipe the printout must hold (whitespace collapsed)."""

    command: str
    why: str
    make: tuple[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)


SMALL = "--adapters numpy.stable --cases cases/empty.yaml"
"""One adapter on the empty-batch cases: the narrowing of a matrix command (seconds)."""
ASV_MACHINE = ".venv/bin/asv machine --yes > /dev/null"
"""The Makefile's $(ASV_MACHINE) step: asv refuses to run on a machine it has no
description of (written under HOME, which the asv stand-ins point into the scratch copy)."""
ASV_SMALL = (
    "BCE_BENCH_PROFILE=quick BCE_BENCH_ONLY=numpy.stable ASV_PYTHONPATH=$PWD .venv/bin/asv run "
    "--python=same --show-stderr -b \"Forward.track_seconds\\(.*, 1000, 'float32', 'cpu'\\)\""
)
"""The make targets' asv line, narrowed to one benchmark of one NumPy adapter."""
ASV_HOME = {"HOME": "asv-home"}
MATRIX = "conformance/test_matrix.py"
"""The matrix tests alone: collecting all of conformance/ imports every framework for its
tests that call them directly, which costs most of a pytest command's minute here (``time
.venv/bin/python -m pytest conformance --collect-only -q``)."""

NARROWED: dict[str, StandIn] = {
    "make run": StandIn(
        f".venv/bin/bce-conformance run --profile full --output reports/conformance.json "
        f"--html reports/conformance.html --markdown reports/conformance.md {SMALL}",
        "the full profile over every framework takes 10 min 38 s (README.md); its command "
        "line, on one adapter",
        make=(
            "run",
            ".venv/bin/bce-conformance run --profile full --output reports/conformance.json "
            "--html reports/conformance.html --markdown reports/conformance.md",
        ),
    ),
    "make test": StandIn(
        f".venv/bin/python -m pytest {MATRIX} {SMALL} -q",
        "it runs this file (make docs); lint, unit and integration are its other "
        "prerequisites, listed here too; its own line, the quick matrix, on one adapter, "
        "matrix tests only",
        make=(
            "test",
            ".venv/bin/python -m pytest conformance",
        ),
    ),
    "make unit": StandIn(
        '.venv/bin/python -m pytest -n auto --dist loadfile -m "not integration and not docs" '
        "tests/test_case_loader.py",
        "this file's own run leaves it out (it would run the fast tests twice in make test); "
        "its line on one test file",
        make=(
            "unit",
            '.venv/bin/python -m pytest -n auto --dist loadfile -m "not integration and not '
            'docs" tests',
        ),
    ),
    "make integration": StandIn(
        ".venv/bin/python -m pytest -n auto --dist loadfile -m integration "
        "tests/test_outcome_validation.py",
        "minutes of end-to-end runs (README.md's cost table), which make test runs itself; "
        "its line on the test file with the shortest integration test",
        make=(
            "integration",
            ".venv/bin/python -m pytest -n auto --dist loadfile -m integration tests",
        ),
    ),
    "make lint": StandIn(
        ".venv/bin/ruff format --check README.md FINDINGS.md docs",
        "make test runs make lint before this file; its formatter line over the pages",
        make=(
            "lint",
            ".venv/bin/ruff format --check .",
        ),
    ),
    "make docs": StandIn(
        ".venv/bin/mkdocs build --strict --site-dir site-check",
        "its second line is this file; its first, into a scratch folder",
        make=(
            "docs",
            ".venv/bin/mkdocs build --strict",
        ),
    ),
    "make browser": StandIn(
        "command -v chromium || command -v chromium-browser",
        "where Chromium is absent it installs it with apt-get; the test only asks whether "
        "it is there",
        make=(
            "browser",
            "command -v chromium",
        ),
    ),
    "make bench-quick": StandIn(
        f"{ASV_MACHINE} && {ASV_SMALL} --quick --dry-run",
        "12 min 50 s (docs/benchmarks.md); its asv line on one benchmark, nothing saved",
        make=(
            "bench-quick",
            ".venv/bin/asv run --python=same --set-commit-hash",
        ),
        env=ASV_HOME,
    ),
    "make bench": StandIn(
        f"{ASV_MACHINE} && {ASV_SMALL} --quick --dry-run",
        "30 min 49 s (docs/benchmarks.md); its asv line on one benchmark, nothing saved",
        make=(
            "bench",
            ".venv/bin/asv run --python=same --set-commit-hash",
        ),
        env=ASV_HOME,
    ),
    "make bench-smoke": StandIn(
        f"{ASV_MACHINE} && {ASV_SMALL} --quick --dry-run",
        "every benchmark function over twelve adapters; its asv line on one benchmark",
        make=(
            "bench-smoke",
            ".venv/bin/asv run --python=same --quick --dry-run --show-stderr",
        ),
        env=ASV_HOME,
    ),
    "make bench-gate": StandIn(
        f"{ASV_MACHINE} && {ASV_SMALL} --set-commit-hash $(git rev-parse HEAD) && "
        "result=$(ls reports/asv/results/*/$(git rev-parse --short=8 HEAD)-*.json) && "
        '.venv/bin/bce-conformance gate "$result" "$result"',
        "it measures this commit and its parent in a git worktree, minutes each; one "
        "benchmark measured and saved, and the gate's comparison of the result with itself",
        make=(
            "bench-gate",
            ".venv/bin/bce-conformance gate --base HEAD~1",
        ),
        env=ASV_HOME,
    ),
    "make bench-versions": StandIn(
        f"{ASV_MACHINE} && BCE_BENCH_ONLY=numpy.stable BCE_BENCH_PROFILE=quick "
        "ASV_PYTHONPATH=$PWD .venv/bin/asv run --config asv.versions.conf.json "
        "--python=same --quick --dry-run --show-stderr "
        "-b \"Forward.track_seconds\\(.*, 1000, 'float32', 'cpu'\\)\"",
        "it builds a virtualenv per jax release from PyPI; its configuration on this .venv, "
        "one benchmark",
        make=(
            "bench-versions",
            ".venv/bin/asv run --config asv.versions.conf.json",
        ),
        env=ASV_HOME,
    ),
    ".venv/bin/bce-conformance run --profile full --output new.json --markdown summary.md "
    "|| true": StandIn(
        f".venv/bin/bce-conformance run --profile full --output new.json --markdown "
        f"summary.md {SMALL} || true",
        "the full profile; on one adapter",
    ),
    ".venv/bin/bce-conformance compare base.json new.json": StandIn(
        ".venv/bin/bce-conformance compare new.json new.json",
        "base.json is the main branch's report, which no checkout has; the new one against itself",
    ),
    ".venv/bin/bce-conformance run --adapters 'torch.*' --dtypes float64 --devices cpu": StandIn(
        ".venv/bin/bce-conformance run --adapters 'torch.*' --dtypes float64 --devices cpu "
        "--cases cases/empty.yaml",
        "every case of every PyTorch adapter; the empty-batch cases",
    ),
    ".venv/bin/python -m pytest conformance --adapters 'torch.*' --dtypes float32 -q": StandIn(
        f".venv/bin/python -m pytest {MATRIX} --adapters 'torch.nn.BCE*' --dtypes float32 -q "
        "--cases cases/empty.yaml",
        "every case of every PyTorch adapter; the two loss classes on the empty-batch cases, "
        "matrix tests only",
    ),
    ".venv/bin/python -m pytest conformance -k 'extreme-logits' -q": StandIn(
        f".venv/bin/python -m pytest {MATRIX} -k 'extreme-logits' -q --adapters numpy.stable",
        "every adapter; one, matrix tests only",
    ),
    ".venv/bin/python -m pytest -n auto --profile full conformance": StandIn(
        f".venv/bin/python -m pytest -n auto --profile full {MATRIX} {SMALL}",
        "10 min 31 s (README.md); on one adapter, matrix tests only",
    ),
    ".venv/bin/python -m pytest conformance --adapter examples/my_bce.py:stable_bce "
    "--adapters 'my.*' -q": StandIn(
        f".venv/bin/python -m pytest {MATRIX} --adapter examples/my_bce.py:stable_bce "
        "--adapters 'my.*' -q",
        "the matrix tests alone (the adapter runs in no other test)",
    ),
    ".venv/bin/python -m pytest conformance/test_mixed_dtypes.py -q": StandIn(
        ".venv/bin/python -m pytest conformance/test_mixed_dtypes.py -q "
        "-k 'torch and bf16-input-f32-weight'",
        "about a minute, most of it torch.compile; the bfloat16-input, float32-weight tests "
        "of PyTorch (pytorch#197098's expected failure among them)",
    ),
}


def blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a page (indented ones, inside list items, too)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start: tuple[int, str, str] | None = None
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line)
        if fence is None:
            continue
        if start is None:
            start = (number, fence["lang"], fence["indent"])
        elif not fence["lang"] and fence["indent"] == start[2]:
            body = "\n".join(lines[start[0] : number - 1])
            yield Block(page, start[0], start[1], textwrap.dedent(body))
            start = None
    assert start is None, f"{page.relative_to(ROOT)}:{start[0]}: a block that never closes"


BLOCKS = [block for page in PAGES for block in blocks(page)]
CONSOLE = [block for block in BLOCKS if block.lang == "console"]
SCRIPTS = [block for block in BLOCKS if block.lang == "python"]


def headings(page: Path) -> list[str]:
    """A page's headings, outside code blocks, as written (without the leading #s)."""
    inside = {n for b in blocks(page) for n in range(b.line, b.line + b.text.count("\n") + 2)}
    lines = page.read_text(encoding="utf-8").splitlines()
    return [
        line.lstrip("#").strip()
        for number, line in enumerate(lines, 1)
        if line.startswith("#") and number not in inside
    ]


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, each
    space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def mkdocs_slug(heading: str) -> str:
    """mkdocs' anchor (Python-Markdown's toc, on the heading's text without code marks)."""
    return slugify(heading.replace("`", ""), "-")


def test_anchors_are_the_same_on_github_and_in_the_site() -> None:
    """So one #anchor works in both; and no page repeats a heading (the two number
    repeats differently)."""
    for page in PAGES:
        slugs = [github_slug(heading) for heading in headings(page)]
        assert len(slugs) == len(set(slugs)), f"{page.name}: a heading repeats"
        for heading in headings(page):
            assert github_slug(heading) == mkdocs_slug(heading), f"{page.name}: {heading}"


@pytest.mark.parametrize("page", OUTSIDE_THE_SITE, ids=lambda page: page.name)
def test_links_lead_somewhere(page: Path) -> None:
    """Every relative link names a file of the repository, and every #anchor a heading of
    the Markdown page it points to (mkdocs checks the links of docs/ itself)."""
    text = page.read_text(encoding="utf-8")
    for link in LINK.finditer(text):
        target = link["target"]
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert linked.suffix == ".md", f"{page.name}: {target}: an anchor into a non-page"
            slugs = {github_slug(heading) for heading in headings(linked)}
            assert anchor in slugs, f"{page.name}: {target}: no such heading"


def test_every_narrowed_command_is_shown() -> None:
    """The table describes the pages as they are: no stand-in for a command no page shows,
    and every make command shown has one."""
    shown = {command for block in CONSOLE for command in block.commands}
    assert set(NARROWED) <= shown, set(NARROWED) - shown
    unnarrowed = {c for c in shown if c.startswith("make ") and c not in NARROWED}
    assert not unnarrowed, unnarrowed


def _one_line(text: str) -> str:
    return " ".join(text.replace("\\\n", " ").split())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository made of links to its files, with a reports/ of its own
    (holding only the committed examples), so that commands write nothing here."""
    copy = tmp_path_factory.mktemp("repository")
    for entry in ROOT.iterdir():
        if entry.name not in {"reports", "build"}:
            (copy / entry.name).symlink_to(entry)
    (copy / "reports").mkdir()
    (copy / "reports" / "examples").symlink_to(ROOT / "reports" / "examples")
    (copy / "asv-home").mkdir()
    return copy


def _run(argv: list[str], where: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``argv`` in ``where``, with this tree's code first on the import path (an editable
    install elsewhere must not answer for it)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environment["GITHUB_STEP_SUMMARY"] = str(where / "step-summary.md")
    if "HOME" in env:
        environment["HOME"] = str(where / env["HOME"])
    return subprocess.run(argv, cwd=where, env=environment,
                          capture_output=True, text=True, timeout=TIMEOUT_S)  # fmt: skip


@pytest.mark.parametrize("block", CONSOLE, ids=lambda block: block.where)
def test_console_block_runs(block: Block, scratch: Path) -> None:
    for shown in block.commands:
        stand_in = NARROWED.get(shown)
        if stand_in is not None and stand_in.make is not None:
            target, recipe = stand_in.make
            printed = _run(["make", "-n", target], scratch, {})
            assert printed.returncode == 0, f"{block.where}: {shown}\n{printed.stderr}"
            assert recipe in _one_line(printed.stdout), (
                f"{block.where}: make -n {target} no longer shows {recipe!r}: update NARROWED"
            )
        command = shown if stand_in is None else stand_in.command
        done = _run(["bash", "-c", command], scratch, {} if stand_in is None else stand_in.env)
        assert done.returncode == 0, (
            f"{block.where}: {command}\nexit {done.returncode}\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )


FRAMEWORKS = ("tensorflow", "torch", "jax")
"""Scripts importing one of these run together, one interpreter per framework (so each
framework is imported once); any other script runs with the NumPy ones."""


def _framework(script: Block) -> str:
    imported = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", script.text, re.MULTILINE))
    return next((name for name in FRAMEWORKS if name in imported), "numpy")


RUNNER = """
import sys, traceback
failed = []
for where, source in SCRIPTS:
    try:
        exec(compile(source, where, "exec"), {"__name__": "__main__"})
    except BaseException:
        failed.append(where)
        traceback.print_exc()
sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
"""


@pytest.mark.parametrize("framework", sorted({_framework(script) for script in SCRIPTS}))
def test_scripts_run(framework: str, scratch: Path) -> None:
    scripts = [(s.where, s.text) for s in SCRIPTS if _framework(s) == framework]
    program = f"SCRIPTS = {scripts!r}\n{RUNNER}"
    done = _run([sys.executable, "-c", program], scratch, {})
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
