"""Root pytest configuration: the conformance suite's command-line options.

They are declared here, at the root, because pytest reads options before it collects
``conformance/``: ``pytest --profile full`` must work from the repository root as well as
``pytest conformance --profile full``. Their use is in ``conformance/conftest.py``.
"""

from __future__ import annotations

import pytest

from adapters.base import DEVICES, DTYPES
from conformance.matrix import DEFAULT_DEVICES, PROFILES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bce-conformance")
    group.addoption("--adapters", help="comma-separated adapter name globs (default: all)")
    group.addoption(
        "--profile", default="quick", choices=PROFILES,
        help="quick: float32/float64, eager APIs; full: every dtype and compiled modes",
    )  # fmt: skip
    group.addoption("--dtypes", help=f"override the profile's dtypes, of {', '.join(DTYPES)}")
    group.addoption("--devices", default=",".join(DEFAULT_DEVICES), help=f"of {', '.join(DEVICES)}")
    group.addoption("--cases", action="append", help="case file or folder (repeatable)")
    group.addoption("--adapter", action="append", default=[], help="extra MODULE:OBJECT adapters")
