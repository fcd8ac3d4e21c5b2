"""What a run produced (``RunOutcome``), whichever way it ran: supervised worker processes
(``conformance/running/supervisor.py``) or this process (``running/in_process.py``); the
reports (``conformance/reports/document.py``) are built from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.engine.matrix import Check, CheckResult


@dataclass
class RunOutcome:
    """What a run produced: verdicts in plan order, the checks that have none, and where
    the time went (``timing``: totals in seconds, ``by_framework`` per framework)."""

    results: list[CheckResult]
    missing: list[tuple[Check, str]]
    timing: dict[str, Any]
    interrupted: str | None = None
    measured_costs: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Seconds and count of checks run, by adapter (``scheduling.write_costs``)."""

    @property
    def complete(self) -> bool:
        return not self.missing
