"""The ``bce-conformance`` command: run the matrix, list adapters, validate case files.

    bce-conformance run [--profile quick|full] [--jobs N] [--adapters GLOBS] [--dtypes ...]
                        [--devices ...] [--cases PATH ...] [--adapter SPEC ...]
                        [--timeout SECONDS] [--isolation process|none] [--framework-logs]
                        [--output reports/conformance.json] [--html PATH] [--markdown PATH]
    bce-conformance report RUN.json [-o OUT] [--format text|markdown|html]
    bce-conformance bench [--adapters GLOBS] [--sizes 1e3,1e6] [--dtypes ...] [--grad]
    bce-conformance gate [--base REV] | gate BASE_RESULT.json CURRENT_RESULT.json
    bce-conformance repro CHECK_ID [--report RUN.json] [--cases PATH ...]
    bce-conformance compare BASE.json NEW.json
    bce-conformance merge A.json B.json ... -o ALL.json [--allow-different-cases]
    bce-conformance adapters [--adapter SPEC ...]
    bce-conformance cases validate [PATH ...]

SPEC is ``module:object`` or ``path/to/file.py:object``. Exit status of ``run``: 0 when
every fail and error is a registered known bug and every planned check ran, 1 when any is
not (or a case file is malformed, or the run was interrupted), 2 for a usage error, found
before any check runs. The report is written whenever checks ran, interrupted or not.
``compare`` exits 0 when nothing regressed, 1 on a regression, 2 when a file is not a
usable report; ``report`` and ``merge`` exit 2 on such a file. ``gate`` exits 0 when
no benchmark regressed, 1 when one did (see ``conformance/speed/gate.py``), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from adapters.calls import DEVICES, DTYPES
from adapters.registry import AdapterSpecError, discover, select
from conformance.application import ISOLATION, RunSpec, conformance_report, planned, run_conformance
from conformance.engine.cases import CASES_DIR, load_cases
from conformance.engine.matrix import DEFAULT_DEVICES, Runner, split_list
from conformance.known_bugs import KnownBugsError, load_known_bugs
from conformance.profiles import DEFAULT_MATRIX_PROFILE, MATRIX_PROFILES, matrix_help
from conformance.reports import environment
from conformance.reports.compare import compare_reports
from conformance.reports.compare import render as render_comparison
from conformance.reports.document import ReportError, load_report, write_bytes_atomic, write_report
from conformance.reports.merge import merge_reports
from conformance.reports.records import CheckRecord
from conformance.reports.render import REPORT_FORMATS, render_report
from conformance.reports.repro import Reproducers, ReproError
from conformance.reports.table import summary_table
from conformance.running.cache_dir import default_cache_dir
from conformance.running.progress import RunProgress
from conformance.running.scheduling import ShardError, parse_shard
from conformance.running.supervisor import DEFAULT_TIMEOUT_S
from conformance.speed import gate
from conformance.speed.bench import SIZES as BENCH_SIZES
from conformance.speed.command import run_bench


class UsageError(ValueError):
    """A command line that cannot run; reported before any check runs."""


def _csv(choices: Sequence[str] | None = None):
    """An argparse type for a comma-separated list, checked against ``choices``."""

    def parse(text: str) -> list[str]:
        try:
            return split_list(text, choices) or []
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(item)) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r} (e.g. 1e3,1e6)") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} s: give a positive, finite number of seconds")
    return value


def _adapter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--adapter", action="append", default=[], metavar="SPEC",
        help="extra adapters: MODULE:OBJECT or path/to/file.py:OBJECT (repeatable)",
    )  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bce-conformance", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the conformance matrix and write the JSON report")
    run.add_argument("--adapters", type=_csv(), help="comma-separated adapter name globs")
    run.add_argument("--profile", choices=list(MATRIX_PROFILES), default=DEFAULT_MATRIX_PROFILE,
                     help=matrix_help())  # fmt: skip
    run.add_argument("--dtypes", type=_csv(DTYPES), help="override the profile's dtypes")
    run.add_argument("--devices", type=_csv(DEVICES), default=list(DEFAULT_DEVICES))
    run.add_argument("--cases", action="append", type=Path, help="case file or folder (repeatable)")
    _adapter_option(run)
    run.add_argument(
        "--output", type=Path, default=Path("reports/conformance.json"),
        help="the JSON report (a name ending in .gz is gzip-compressed)",
    )  # fmt: skip
    run.add_argument("--html", type=Path, help="also write the HTML report here")
    run.add_argument("--markdown", type=Path, help="also write the Markdown summary here")
    run.add_argument(
        "--jobs", type=_count(0), default=0,
        help="worker processes (each imports the frameworks it runs once); 0 (default): one "
        "per CPU and one more",
    )  # fmt: skip
    run.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"per check: a check running longer is an error verdict and its worker is "
        f"restarted (default {DEFAULT_TIMEOUT_S:g})",
    )  # fmt: skip
    run.add_argument(
        "--framework-logs", action="store_true",
        help="let the frameworks' own log lines (TensorFlow, absl, XLA start-up) through to "
        "the terminal; by default they go to <output>.framework.log beside the report",
    )  # fmt: skip
    run.add_argument(
        "--cache-dir", type=Path, default=default_cache_dir(), metavar="DIR",
        help="compiled executables and references kept between runs (default "
        f"{default_cache_dir()}; safe to delete)",
    )  # fmt: skip
    run.add_argument("--no-cache", action="store_true", help="use and keep no cache at all")
    run.add_argument(
        "--shard", type=_shard, metavar="K/N",
        help="run only the K-th of N shards of the plan (balanced by measured cost); "
        "'bce-conformance merge' joins the N reports",
    )  # fmt: skip
    run.add_argument(
        "--isolation", choices=ISOLATION, default="process",
        help="process (default): checks run in supervised worker processes, so a crash or "
        "hang costs one check; none: in this process (for debuggers; --jobs and --timeout "
        "are then ignored)",
    )  # fmt: skip

    report = sub.add_parser("report", help="render a JSON report as text, Markdown or HTML")
    report.add_argument("report", type=Path, metavar="RUN.json")
    report.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    report.add_argument(
        "--format", choices=REPORT_FORMATS,
        help="default: from the output's suffix (.html, .md), else text",
    )  # fmt: skip

    bench = sub.add_parser("bench", help="time each adapter's BCE (the asv benchmarks' core)")
    bench.add_argument("--adapters", type=_csv(), help="comma-separated adapter name globs")
    bench.add_argument(
        "--sizes", type=_sizes, default=list(BENCH_SIZES[:3]),
        help="comma-separated element counts (default 1e3,1e5,1e6)",
    )  # fmt: skip
    bench.add_argument("--dtypes", type=_csv(DTYPES), default=["float32"])
    bench.add_argument("--devices", type=_csv(DEVICES), default=["cpu"])
    bench.add_argument("--grad", action="store_true", help="forward+backward as well")
    bench.add_argument("--output", type=Path, default=Path("reports/bench.json"))
    _adapter_option(bench)

    hunting = sub.add_parser(
        "hunt",
        help="search with hypothesis for inputs outside tolerance that no known bug explains; "
        "writes a case file and reproducers (exit 1 when something is found)",
    )
    hunting.add_argument("--adapters", type=_csv(), help="comma-separated adapter name globs")
    hunting.add_argument("--dtypes", type=_csv(DTYPES), default=["float32", "float64"])
    hunting.add_argument(
        "--seconds", type=float, default=20.0,
        help="search time per adapter, form, dtype and quantity (default 20)",
    )  # fmt: skip
    hunting.add_argument(
        "--ignore-known-bugs", action="store_true",
        help="search past the known-bug registry: registered bugs are findings too",
    )  # fmt: skip
    hunting.add_argument("--output", type=Path, default=Path("reports/hunt"),
                         help="folder for hunt.yaml, hunt.json and the reproducers")  # fmt: skip
    _adapter_option(hunting)

    repro = sub.add_parser("repro", help="a self-contained snippet reproducing one check")
    repro.add_argument("check_id", metavar="CHECK_ID")
    repro.add_argument(
        "--report", type=Path,
        help="take the values from this report (default: run the check here, now)",
    )  # fmt: skip
    repro.add_argument("--cases", action="append", type=Path, help="case file or folder")

    comparison = sub.add_parser(
        "compare", help="the regression gate: what got worse from BASE to NEW (exit 1)"
    )
    comparison.add_argument("base", type=Path, metavar="BASE.json")
    comparison.add_argument("new", type=Path, metavar="NEW.json")

    gating = sub.add_parser(
        "gate",
        help="the benchmark regression gate: this tree against --base, measured by asv in "
        "one sitting (exit 1 on a regression), or two asv result files compared",
    )
    gating.add_argument("--base", default="HEAD~1", help="commit to compare with (HEAD~1)")
    gating.add_argument("results", type=Path, nargs="*", metavar="RESULT.json",
                        help="two asv result files (base, current): compare only")  # fmt: skip

    merging = sub.add_parser("merge", help="join reports of several machines or shards")
    merging.add_argument("reports", type=Path, nargs="+", metavar="RUN.json")
    merging.add_argument("-o", "--output", type=Path, required=True)
    merging.add_argument(
        "--allow-different-cases", action="store_true",
        help="join reports made from different case files (noted in the merged report)",
    )  # fmt: skip

    listing = sub.add_parser("adapters", help="list adapters, where they come from, what they run")
    _adapter_option(listing)

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
            return _list_adapters(args.adapter)
        if args.command == "report":
            return _render(args)
        if args.command == "bench":
            return run_bench(args.adapters, args.sizes, args.dtypes, args.devices, args.grad,
                             args.output, [_absolute_spec(s) for s in args.adapter])  # fmt: skip
        if args.command == "repro":
            return _repro(args)
        if args.command == "hunt":
            return _hunt(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "gate":
            return _gate(args)
        return _validate(args.paths)
    except (AdapterSpecError, KnownBugsError, UsageError, ReportError, ReproError) as exc:
        print(f"bce-conformance: {exc}", file=sys.stderr)
        return 2


def _gate(args: argparse.Namespace) -> int:
    if not args.results:
        return gate.gate(args.base, Path.cwd())
    if len(args.results) != 2:
        raise UsageError("gate compares exactly two asv result files: BASE CURRENT")
    try:
        base, current = (gate.load_results(path) for path in args.results)
        found = gate.compare_results(base, current)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"not an asv result file beside its benchmarks.json: {exc}") from None
    print(found.text())
    print("gate: FAIL" if found.regressions else "gate: pass")
    return 1 if found.regressions else 0


def _check_writable(path: Path) -> None:
    """Fail now, not after the run, if the report cannot be written at ``path``."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; name a file, e.g. {path}/run.json")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def _run(args: argparse.Namespace) -> int:
    for path in (args.output, args.html, args.markdown):
        if path is not None:
            _check_writable(path)
    framework_log = None
    if args.isolation == "process" and not args.framework_logs:
        framework_log = args.output.with_name(args.output.name.split(".")[0] + ".framework.log")
        framework_log.write_bytes(b"")
    spec = RunSpec(
        profile=args.profile,
        adapter_globs=args.adapters,
        extra_adapters=[_absolute_spec(spec) for spec in args.adapter],
        dtypes=args.dtypes,
        devices=args.devices,
        case_paths=args.cases,
        jobs=args.jobs,
        timeout=args.timeout,
        isolation=args.isolation,
        cache_dir=None if args.no_cache else args.cache_dir,
        shard=args.shard,
        framework_log=framework_log,
    )
    plan, indices = planned(spec)
    for error in plan.case_errors:
        print(f"case error: {error}", file=sys.stderr)
    for problem in plan.load_problems:
        print(f"adapter plug-in not loaded: {problem.source}: {problem.message}", file=sys.stderr)
    with RunProgress([plan.checks[i] for i in indices]) as shown:
        run = run_conformance(spec, plan=plan, indices=indices, on_result=shown)
    outcome = run.outcome
    if outcome.interrupted:
        print(f"interrupted by {outcome.interrupted}: writing what ran so far", file=sys.stderr)
    report = conformance_report(run)
    write_report(args.output, report)
    reproducers = Reproducers(report)
    for path, fmt in ((args.html, "html"), (args.markdown, "markdown")):
        if path is not None:
            text = render_report(report, fmt, reproducers)
            write_bytes_atomic(path, text.encode("utf-8"))
    print(summary_table(report))
    findings = report.unexplained
    for record in findings[:20]:
        print(f"{record.verdict.value.upper()}: {record.id}: {record.detail}", file=sys.stderr)
    for check, reason in outcome.missing[:5]:
        print(f"MISSING: {check.id}: {reason}", file=sys.stderr)
    if len(outcome.missing) > 5:
        print(f"MISSING: ... {len(outcome.missing) - 5} more in the report", file=sys.stderr)
    print(f"report: {', '.join(str(p) for p in (args.output, args.html, args.markdown) if p)}")
    if framework_log is not None and framework_log.stat().st_size:
        lines = len(framework_log.read_bytes().splitlines())
        print(f"framework log output (TensorFlow, absl, XLA): {lines} lines in {framework_log}")
    return 1 if findings or plan.case_errors or not outcome.complete else 0


def _render(args: argparse.Namespace) -> int:
    report = load_report(args.report)
    output: Path | None = args.output
    fmt = args.format or {".html": "html", ".htm": "html", ".md": "markdown"}.get(
        output.suffix if output else "", "text"
    )
    text = render_report(report, fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        write_bytes_atomic(output, text.encode("utf-8"))
        print(f"{fmt} report: {output}")
    return 0


def _repro(args: argparse.Namespace) -> int:
    report = load_report(args.report) if args.report else None
    reproducers = Reproducers(report, case_paths=args.cases)
    if report is not None:
        record = next((c for c in report.checks if c.id == args.check_id), None)
        if record is None:
            raise UsageError(f"{args.report} has no check {args.check_id!r}")
    else:  # run it here, in this process
        result = Runner(load_known_bugs()).run(reproducers.check(args.check_id))
        record = CheckRecord.of(result, environment.machine_label())
    snippet = reproducers(record)
    if snippet is None:
        raise UsageError(f"{record.key.adapter} cannot write a reproducer")
    sys.stdout.write(snippet)
    return 0


def _hunt(args: argparse.Namespace) -> int:
    """Search, then run the findings' case file like any other and write reproducers."""
    from conformance import hunt  # hypothesis: imported by the command that uses it

    specs = [_absolute_spec(spec) for spec in args.adapter]
    adapters = select(discover(specs).adapters, args.adapters)
    findings = hunt.hunt(adapters, args.dtypes, args.seconds, known_bugs=not args.ignore_known_bugs)
    args.output.mkdir(parents=True, exist_ok=True)
    cases_path = args.output / "hunt.yaml"
    hunt.write_cases(findings, cases_path)
    if not findings:
        print(f"hunt: nothing outside tolerance that the registry does not explain ({cases_path})")
        return 0
    report_path = args.output / "hunt.json"
    spec = RunSpec(
        profile="full",
        devices=["cpu"],
        case_paths=[cases_path],
        adapter_globs=sorted({f.adapter for f in findings}),
        extra_adapters=specs,
        cache_dir=default_cache_dir(),
    )
    report = conformance_report(run_conformance(spec))
    write_report(report_path, report)
    reproducers = Reproducers(report, case_paths=[cases_path], extra_adapters=specs)
    for record in report.checks:
        if record.verdict.failed:
            snippet = reproducers(record)
            if snippet is not None:
                name = re.sub(r"[^\w.-]+", "-", record.id)  # one file per check
                write_bytes_atomic(args.output / f"{name}.py", snippet.encode("utf-8"))
    print(f"hunt: {len(findings)} finding(s): {cases_path}, reproducers in {args.output}")
    return 1


def _compare(args: argparse.Namespace) -> int:
    result = compare_reports(load_report(args.base), load_report(args.new))
    print(render_comparison(result))
    return 1 if result.regressed else 0


def _merge(args: argparse.Namespace) -> int:
    loaded = [(path, load_report(path)) for path in args.reports]
    merged = merge_reports(loaded, allow_different_cases=args.allow_different_cases)
    write_report(args.output, merged)
    for note in merged.merge_notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"merged {len(loaded)} report(s), {len(merged.checks)} checks, "
        f"{len(merged.findings)} finding(s): {args.output}"
    )
    return 0


def _absolute_spec(spec: str) -> str:
    """A file spec with an absolute path, so worker processes load the very same file."""
    target, sep, attr = spec.rpartition(":")
    if sep and (target.endswith(".py") or "/" in target) and Path(target).is_file():
        return f"{Path(target).resolve()}:{attr}"
    return spec  # a module name, or a file that is not there: its error quotes it as typed


def _list_adapters(specs: Sequence[str]) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        discovery = discover(specs, strict_specs=False)
    for warning in caught:
        print(f"warning: {warning.message}")
    for adapter in discovery.adapters:
        print(f"{adapter.name}\n    {adapter.api}\n    from {discovery.sources[adapter.name]}")
        try:
            reason = adapter.available()
            devices = "" if reason else ", ".join(adapter.devices())  # imports the framework
        except Exception as exc:  # a framework that fails to import, or a broken adapter
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            print(f"    unavailable: {reason}")
            continue
        print(
            f"    {adapter.framework} {adapter.version() or '(no version)'}; "
            f"forms {', '.join(sorted(adapter.forms))}; dtypes {', '.join(adapter.dtypes())}; "
            f"devices {devices}\n"
            f"    conventions: {', '.join(adapter.conventions.names()) or 'none'}"
        )
        domain = adapter.contract.documented_domain
        if domain:
            print(f"    documented domain: {domain}")
    for problem in discovery.problems:
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
