"""The JSON report (schema version 3): build it from a run, write it atomically, read it back.

A report is one document with a list of runs (one for a plain run; several once reports
from other machines or shards are merged), the environment of each machine, and one
record per check carrying what the check compared: the reference values and the
framework's values (``conformance/engine/evidence.py`` says what is kept of a large array).
``report.schema.json`` beside this module is the contract; every report this module
writes or reads is validated against it.

Writing is atomic (a temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves a half-written report and an earlier report is replaced only
by a complete document. A name ending in ``.gz`` is written gzip-compressed, and reading
recognises gzip by its magic bytes.
"""

from __future__ import annotations

import datetime
import functools
import gzip
import io
import json
import math
import os
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import fastjsonschema

from adapters.base import Adapter
from conformance.engine.cases import Case, CaseError
from conformance.engine.evidence import Evidence
from conformance.engine.matrix import Check, CheckResult
from conformance.engine.run_outcome import RunOutcome
from conformance.vocabulary import Quantity, Verdict

SCHEMA_VERSION = 3
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
MAX_REPORT_BYTES = 1 << 30
"""Largest report (uncompressed) that is read: the full profile writes about 1/20 of it."""


class ReportError(ValueError):
    """A file that is not a usable report: missing, truncated, not JSON, another schema."""


def _rounded(timing: dict[str, Any]) -> dict[str, Any]:
    """Seconds and MiB to the millisecond (and kibibyte), nested parts included."""
    return {k: _rounded(v) if isinstance(v, dict) else round(v, 3) for k, v in timing.items()}


def build_report(
    outcome: RunOutcome,
    *,
    planned: int,
    adapters: Sequence[Adapter],
    cases: Sequence[Case],
    case_errors: Iterable[CaseError],
    load_problems: Iterable[Any],
    options: dict[str, Any],
    timing: dict[str, Any],
    environment: dict[str, Any],
) -> dict[str, Any]:
    """The report of one run on this machine."""
    machine = environment["host"]
    results = outcome.results
    generated = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    checks = [check_record(r, machine) for r in results]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "complete": outcome.complete,
        "planned_checks": planned,
        "interrupted": outcome.interrupted,
        "missing": _missing(outcome.missing),
        "machines": {machine: environment},
        "runs": [
            {
                "machine": machine,
                "generated": generated,
                "options": options,
                "timing": {**_rounded(timing), "checks": len(results)},
                "complete": outcome.complete,
            }
        ],
        "adapters": {a.name: _adapter_info(a) for a in adapters},
        "cases": {c.id: _case_info(c) for c in cases},
        "summary": summarise(checks),
        "case_errors": [str(e) for e in case_errors],
        "adapter_load_problems": [f"{p.source}: {p.message}" for p in load_problems],
        "findings": [],
        "checks": checks,
    }


def check_record(result: CheckResult, machine: str) -> dict[str, Any]:
    """One check as the report keeps it."""
    c, j = result.check, result.judgement
    key = c.key
    return {
        "id": str(key),
        "adapter": key.adapter,
        "framework": c.adapter.framework,
        "machine": machine,
        "device": key.device,
        "dtype": key.dtype,
        "reduction": key.reduction,
        "quantity": key.quantity.value,
        "case": key.case,
        "verdict": j.verdict.value,
        "error_ulps": json_float(j.error_ulps),
        "relative_error": json_float(j.evidence.max_relative_error if j.evidence else None),
        "tolerance_ulps": json_float(j.tolerance_ulps),
        "result_dtype": j.result_dtype,
        "conventions": j.conventions,
        "detail": j.detail,
        "seconds": round(result.framework_seconds, 6),
        "known_bug": None
        if result.known_bug is None
        else {"reason": result.known_bug.reason, "link": result.known_bug.link},
        "values": None if j.evidence is None else _values(j.evidence),
    }


def _values(evidence: Evidence) -> dict[str, Any]:
    return {
        "compared": evidence.compared,
        "outside_tolerance": evidence.outside_tolerance,
        "all_elements": evidence.all_elements,
        "median_error_ulps": json_float(evidence.median_error_ulps),
        "elements": [
            {
                "index": e.index,
                "input": json_float(e.input),
                "target": json_float(e.target),
                "got": json_float(e.got),
                "expected": json_float(e.expected),
                "error_ulps": json_float(e.error_ulps),
            }
            for e in evidence.elements
        ],
    }


def json_float(value: float | None) -> float | str | None:
    """A float as JSON holds it: a number, or "inf", "-inf", "nan" (JSON has no such
    numbers). Finite floats keep every bit: JSON writes the shortest round-trip decimal."""
    if value is None or math.isfinite(value):
        return value
    return str(float(value))


def from_json_float(value: float | str | None) -> float | None:
    return None if value is None else float(value)


def _missing(missing: Sequence[tuple[Check, str]]) -> dict[str, Any]:
    """Checks without a verdict, grouped by the reason (one reason can cover thousands)."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for check, reason in missing:
        by_reason[reason].append(check.id)
    return {"count": len(missing), "by_reason": dict(by_reason)}


def _adapter_info(adapter: Adapter) -> dict[str, Any]:
    """What the report says of an adapter; a third-party adapter whose own methods raise
    here is described by that error instead of stopping the report."""
    try:
        return {
            "framework": adapter.framework,
            "version": adapter.version(),
            "api": adapter.api,
            "forms": sorted(adapter.forms),
            "unavailable": adapter.available(),
            "conventions": adapter.conventions.names(),
            "raises_on_invalid_probability": adapter.conventions.checks_probability_range,
            "sources": list(adapter.conventions.sources),
            "same_code_as": adapter.same_code_as,
        }
    except Exception as exc:
        return {"framework": str(getattr(adapter, "framework", "")),
                "error": f"{type(exc).__name__}: {exc}"[:500]}  # fmt: skip


def _case_info(case: Case) -> dict[str, Any]:
    return {
        "file": Path(case.file).name,
        "description": case.description,
        "form": case.form,
        "expect_error": case.expect_error,
        "tags": list(case.tags),
    }


def summarise(checks: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per adapter: verdict counts, known bugs among the fails and errors, the share of
    checks that conform (pass or convention, of those that ran), and the worst error in
    ULPs per quantity (value, grad, target_grad, grad2) and dtype among passing checks (a
    convention's error against the mathematics is unbounded by design, and a fail's is in
    its record)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    worst: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for record in checks:
        name = record["adapter"]
        counts[name][record["verdict"]] += 1
        if record["known_bug"] is not None:
            counts[name]["known_bug"] += 1
        error = from_json_float(record["error_ulps"])
        if error is not None and record["verdict"] == Verdict.PASS:
            by_dtype = worst[name][record["quantity"]]
            by_dtype[record["dtype"]] = max(by_dtype.get(record["dtype"], 0.0), error)
    summary = {}
    for name, count in counts.items():
        ran = sum(count[v.value] for v in Verdict if v.ran)
        conforming = sum(count[v.value] for v in Verdict if v.conforms)
        summary[name] = {
            **{v.value: count[v.value] for v in Verdict},
            "known_bug": count["known_bug"],
            "conforming_percent": round(100 * conforming / ran, 2) if ran else None,
            "worst_ulps": {
                q.value: {d: round(e, 3) for d, e in sorted(worst[name][q.value].items())}
                for q in Quantity
            },
        }
    return summary


def unexplained(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Fails and errors that no registry entry explains: what a person must look at."""
    return [c for c in report["checks"] if is_finding(c)]


def is_finding(record: dict[str, Any]) -> bool:
    """Whether a check record is a fail or error that no registry entry explains."""
    return Verdict(record["verdict"]).is_finding(explained=record["known_bug"] is not None)


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Validate, then write atomically; ``*.gz`` is gzip-compressed."""
    validate(report)
    text = json.dumps(report, separators=(",", ":"), allow_nan=False) + "\n"
    data = text.encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6, mtime=0)
    write_bytes_atomic(path, data)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_report(path: Path) -> dict[str, Any]:
    """A report read back and validated; ReportError says why a file is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = _gunzip(raw)
        document = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportError(f"{path}: not a readable gzip file ({exc})") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not a report (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        complete = raw.rstrip().endswith((b"}", b"]"))
        where = "not valid JSON" if complete else "truncated (it ends mid-document)"
        raise ReportError(f"{path}: {where} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict) or "schema_version" not in document:
        raise ReportError(f"{path}: not a bce-conformance report (no schema_version)")
    if document["schema_version"] != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: schema version {document['schema_version']!r}; this version of "
            f"bce-conformance reads version {SCHEMA_VERSION} (re-run to regenerate it)"
        )
    try:
        validate(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ReportError(f"{path}: not a valid report: {exc.message}") from None
    return document


def _gunzip(raw: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as handle:
        data = handle.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise OSError(f"more than {MAX_REPORT_BYTES >> 20} MiB uncompressed")
    return data


@functools.cache
def _validator() -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema: an order of magnitude faster than
    the jsonschema interpreter on a report (time ``validate(load_report(path))`` with
    each), which matters at the full profile's hundred thousand checks."""
    return fastjsonschema.compile(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def validate(document: dict[str, Any]) -> None:
    """Raise fastjsonschema.JsonSchemaValueException (naming the path, e.g.
    ``data.checks[5].verdict``) unless ``document`` is a report."""
    _validator()(document)
