"""Root pytest configuration: the conformance suite's command-line options.

They are declared here, at the root, because pytest reads options before it collects
``conformance/``: ``pytest --profile full`` must work from the repository root as well as
``pytest conformance --profile full``. Their use is in ``conformance/conftest.py``.
"""

from __future__ import annotations

import pytest

from adapters.calls import DEVICES, DTYPES
from conformance.engine.matrix import DEFAULT_DEVICES
from conformance.profiles import DEFAULT_MATRIX_PROFILE, MATRIX_PROFILES, matrix_help
from conformance.running.cache_dir import default_cache_dir
from conformance.running.supervisor import DEFAULT_TIMEOUT_S


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bce-conformance")
    group.addoption("--adapters", help="comma-separated adapter name globs (default: all)")
    group.addoption("--profile", default=DEFAULT_MATRIX_PROFILE, choices=list(MATRIX_PROFILES),
                    help=matrix_help())  # fmt: skip
    group.addoption("--dtypes", help=f"override the profile's dtypes, of {', '.join(DTYPES)}")
    group.addoption("--devices", default=",".join(DEFAULT_DEVICES), help=f"of {', '.join(DEVICES)}")
    group.addoption("--cases", action="append", help="case file or folder (repeatable)")
    group.addoption(
        "--adapter", action="append", default=[],
        help="extra adapters: MODULE:OBJECT or path/to/file.py:OBJECT (repeatable)",
    )  # fmt: skip
    group.addoption("--shard", metavar="K/N", help="run only the K-th of N shards of the matrix")
    group.addoption(
        "--cache-dir", default=str(default_cache_dir()),
        help="compiled executables and references kept between runs (safe to delete)",
    )  # fmt: skip
    group.addoption("--no-cache", action="store_true", help="use and keep no cache at all")
    group.addoption(
        "--check-timeout", type=float, default=DEFAULT_TIMEOUT_S,
        help=f"seconds per matrix check before it is an error (default {DEFAULT_TIMEOUT_S:g})",
    )  # fmt: skip
    group.addoption(
        "--isolation", default="process", choices=("process", "none"),
        help="process (default): matrix checks run in supervised worker processes, so a "
        "crash or hang fails one test; none: in the pytest process (for debuggers)",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, the conformance matrix's parts (``xdist_group`` marks, see
    ``conformance/conftest.py``) go whole to one pytest worker each: xdist's ``loadgroup``
    distribution, which spreads tests without a group like ``load``."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
