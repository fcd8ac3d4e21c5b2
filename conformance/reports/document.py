"""The JSON report: build it from a run, write it atomically, read it back.

A report is one document with a list of runs (one for a plain run; several once reports
from other machines or shards are merged), the environment of each machine, and one
record per check carrying what the check compared: the reference values and the
framework's values (``conformance/engine/evidence.py`` says what is kept of a large array).
``report.schema.json`` beside this module is the contract; every report this module
writes or reads is validated against it. The records themselves, and the document they
make, are typed in ``conformance/reports/records.py``: a report is built as a ``Report``,
written as its JSON, and read back (``load_document``: the validated JSON) into a
``Report`` again (``load_report``).

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
import os
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import fastjsonschema

from adapters.base import Adapter
from conformance.engine.cases import Case, CaseError
from conformance.engine.matrix import Check
from conformance.engine.run_outcome import RunOutcome
from conformance.reports.disagreements import mode_disagreements
from conformance.reports.records import SCHEMA_VERSION, CheckRecord, Report

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
) -> Report:
    """The report of one run on this machine."""
    machine = environment["host"]
    results = outcome.results
    generated = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    checks = [CheckRecord.of(r, machine) for r in results]
    adapter_info = {a.name: _adapter_info(a) for a in adapters}
    return Report(
        generated=generated,
        complete=outcome.complete,
        planned_checks=planned,
        interrupted=outcome.interrupted,
        missing=_missing(outcome.missing),
        machines={machine: environment},
        runs=[
            {
                "machine": machine,
                "generated": generated,
                "options": options,
                "timing": {**_rounded(timing), "checks": len(results)},
                "complete": outcome.complete,
            }
        ],
        adapters=adapter_info,
        cases={c.id: _case_info(c) for c in cases},
        case_errors=[str(e) for e in case_errors],
        adapter_load_problems=[f"{p.source}: {p.message}" for p in load_problems],
        findings=mode_disagreements(checks, adapter_info),
        checks=checks,
    )


def _missing(missing: Sequence[tuple[Check, str]]) -> dict[str, list[str]]:
    """Checks without a verdict, grouped by the reason (one reason can cover thousands)."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for check, reason in missing:
        by_reason[reason].append(check.id)
    return dict(by_reason)


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


def write_report(path: Path, report: Report) -> None:
    """Validate its JSON, then write that atomically; ``*.gz`` is gzip-compressed."""
    document = report.to_json()
    validate(document)
    text = json.dumps(document, separators=(",", ":"), allow_nan=False) + "\n"
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


def load_report(path: Path) -> Report:
    """A report read back: validated (``load_document``), then typed."""
    return Report.from_json(load_document(path))


def load_document(path: Path) -> dict[str, Any]:
    """A report's JSON read back and validated; ReportError says why a file is not one."""
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
    the jsonschema interpreter on a report (time ``validate(load_document(path))`` with
    each), which matters at the full profile's hundred thousand checks."""
    return fastjsonschema.compile(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def validate(document: dict[str, Any]) -> None:
    """Raise fastjsonschema.JsonSchemaValueException (naming the path, e.g.
    ``data.checks[5].verdict``) unless ``document`` is a report."""
    _validator()(document)
