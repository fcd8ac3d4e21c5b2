"""Fixtures shared by the suite's own tests: small case files written to a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.engine.cases import Case, CaseError, load_cases
from conformance.running.cache_dir import ENV_VAR as CACHE_DIR_VARIABLE

GOOD_CASE = """description: good
cases:
  - id: fine
    description: a valid case
    form: probs
    input: [0.5]
    target: [1.0]
"""

TWO_CASES = """description: two small cases
cases:
  - id: half
    description: p = 0.5
    form: probs
    input: [0.5]
    target: [1.0]
  - id: quarter
    description: p = 0.25
    form: probs
    input: [0.25]
    target: [0.0]
"""


@pytest.fixture(scope="session", autouse=True)
def own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's cache directory for this test session, not the user's: the tests share
    compiled executables and references with each other, never with another session."""
    folder = tmp_path_factory.mktemp("bce-cache")
    os.environ[CACHE_DIR_VARIABLE] = str(folder)
    return folder


@pytest.fixture
def good_case() -> str:
    """The text of a valid case file with one case, ``fine``, to derive broken ones from."""
    return GOOD_CASE


@pytest.fixture
def two_cases(tmp_path: Path) -> Path:
    """A folder holding one case file, ``two.yaml``, with the cases ``half`` and ``quarter``."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "two.yaml").write_text(TWO_CASES)
    return folder


@pytest.fixture
def one_error(tmp_path: Path) -> Callable[..., tuple[list[Case], CaseError]]:
    """``one_error(content, name="bad.yaml", folder=tmp_path)``: writes a good file and a bad
    one, loads both, checks that the good case loaded and the bad file gave exactly one
    error, and returns (cases, that error)."""

    def load(
        content: str | bytes, name: str = "bad.yaml", folder: Path = tmp_path
    ) -> tuple[list[Case], CaseError]:
        (folder / "a-good.yaml").write_text(GOOD_CASE)
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        cases, errors = load_cases([folder])
        assert [c.id for c in cases if c.id.startswith("a-good/")] == ["a-good/fine"]
        assert len(errors) == 1, [str(e) for e in errors]
        assert errors[0].file == str(path)
        return cases, errors[0]

    return load


@pytest.fixture(scope="session")
def chromium() -> Callable[..., str]:
    """``chromium(*args)``: headless Chromium's stdout, from PATH (``make browser`` installs
    it, and ``make unit`` and ``make test`` run that first): the HTML report and the asv
    site are checked in a real browser, so a machine without one fails here, never skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not on PATH: run `make browser` (Debian's, with apt-get)")

    def run(*args: str, timeout: float = 120) -> str:
        command = [
            found,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            *args,
        ]  # fmt: skip  (no sandbox: CI runs as root)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run
