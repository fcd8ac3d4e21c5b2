"""The ``bce-conformance`` command: run the matrix, list adapters, validate case files.

    bce-conformance run [--profile quick|full] [--jobs N] [--adapters GLOBS] [--dtypes ...]
                        [--devices ...] [--cases PATH ...] [--adapter module:object ...]
                        [--output reports/conformance.json]
    bce-conformance adapters
    bce-conformance cases validate [PATH ...]

Exit status of ``run``: 0 when every fail and error is a registered known bug, 1 when any
is not (or a case file is malformed), 2 for a usage error. The report is written either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from adapters.base import DEVICES, DTYPES
from adapters.registry import AdapterSpecError, all_adapters
from conformance.cases import CASES_DIR, load_cases
from conformance.known_bugs import KnownBugsError, load_known_bugs
from conformance.matrix import DEFAULT_DEVICES, PROFILES, build_plan, split_list
from conformance.memory import TreeMemorySampler
from conformance.parallel import peak_rss_mib, run_parallel, run_serial
from conformance.report import build_report, summary_table, write_json_atomic
from conformance.verdicts import Verdict


def _csv(choices: Sequence[str] | None = None):
    """An argparse type for a comma-separated list, checked against ``choices``."""

    def parse(text: str) -> list[str]:
        try:
            return split_list(text, choices) or []
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bce-conformance", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the conformance matrix and write the JSON report")
    run.add_argument("--adapters", type=_csv(), help="comma-separated adapter name globs")
    run.add_argument(
        "--profile", choices=PROFILES, default="quick",
        help="quick: float32/float64, eager APIs; full: every dtype, compiled modes, Keras 3 "
        "backends",
    )  # fmt: skip
    run.add_argument("--dtypes", type=_csv(DTYPES), help="override the profile's dtypes")
    run.add_argument("--devices", type=_csv(DEVICES), default=list(DEFAULT_DEVICES))
    run.add_argument("--cases", action="append", type=Path, help="case file or folder (repeatable)")
    run.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="MODULE:OBJECT",
        help="load extra adapters from MODULE:OBJECT (repeatable)",
    )
    run.add_argument("--output", type=Path, default=Path("reports/conformance.json"))
    run.add_argument(
        "--jobs", type=int, default=0,
        help="worker processes (each imports the frameworks once); 0 (default): one per CPU",
    )  # fmt: skip

    sub.add_parser("adapters", help="list adapters, their availability and conventions")

    cases = sub.add_parser("cases", help="work with case files")
    cases_sub = cases.add_subparsers(dest="cases_command", required=True)
    validate = cases_sub.add_parser("validate", help="validate case files against the schema")
    validate.add_argument("paths", nargs="*", type=Path, default=[CASES_DIR])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "adapters":
            return _list_adapters()
        return _validate(args.paths)
    except (AdapterSpecError, KnownBugsError) as exc:
        print(f"bce-conformance: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    plan_options = {
        "adapter_globs": args.adapters,
        "extra_adapters": args.adapter,
        "dtypes": args.dtypes,
        "devices": args.devices,
        "case_paths": args.cases,
        "profile": args.profile,
    }
    plan = build_plan(**plan_options)
    bugs = load_known_bugs()
    for error in plan.case_errors:
        print(f"case error: {error}", file=sys.stderr)
    for problem in plan.load_problems:
        print(f"adapter plug-in not loaded: {problem.source}: {problem.message}", file=sys.stderr)
    jobs = args.jobs or os.cpu_count() or 1
    with TreeMemorySampler() as memory:
        if jobs > 1:
            results, timing, complete = run_parallel(plan, plan_options, jobs)
        else:
            results, timing, complete = run_serial(plan, bugs)
    report = build_report(
        results,
        adapters=plan.adapters,
        case_errors=plan.case_errors,
        load_problems=plan.load_problems,
        options={
            "profile": args.profile,
            "dtypes": sorted({c.dtype for c in plan.checks}, key=DTYPES.index),
            "devices": args.devices,
            "jobs": jobs,
            "cases": [str(p) for p in plan.case_paths],
            "adapters": [a.name for a in plan.adapters],
        },
        timing={
            "wall_s": time.perf_counter() - started,
            **timing,
            "main_peak_rss_mib": max(peak_rss_mib(), timing.get("main_peak_rss_mib", 0.0)),
            "tree_peak_rss_mib": memory.peak_mib,
        },
        complete=complete,
    )
    write_json_atomic(args.output, report)
    print(summary_table(report))
    unexplained = [
        r for r in results if r.verdict in (Verdict.FAIL, Verdict.ERROR) and r.known_bug is None
    ]
    for r in unexplained[:20]:
        print(f"{r.verdict.value.upper()}: {r.check.id}: {r.judgement.detail}", file=sys.stderr)
    print(f"report: {args.output}")
    return 1 if unexplained or plan.case_errors or not complete else 0


def _list_adapters() -> int:
    adapters, problems = all_adapters()
    for adapter in adapters:
        reason = adapter.available()
        state = f"unavailable: {reason}" if reason else f"{adapter.framework} {adapter.version()}"
        conventions = ", ".join(adapter.conventions.names()) or "none"
        print(f"{adapter.name}\n    {adapter.api}\n    {state}; conventions: {conventions}")
    for problem in problems:
        print(f"not loaded: {problem.source}: {problem.message}")
    return 0


def _validate(paths: Sequence[Path]) -> int:
    cases, errors = load_cases(paths)
    for error in errors:
        print(error)
    print(f"{len(cases)} valid case(s), {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
