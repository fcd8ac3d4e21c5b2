"""``bce-conformance bench``: time adapters over sizes and dtypes, print a table, write JSON.

Each framework's measurements run in a worker process of their own (spawned, so no two
frameworks share a process, its thread pools or its allocator), one measurement at a
time: the machine has few cores and a second process running would be measured too. The
numbers come from the same core as the asv benchmarks (``conformance.speed.bench`` and
``adapters.timing``).
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.registry import discover, select
from adapters.timing import overhead
from conformance.known_bugs import REGISTRY_PATH
from conformance.reports.document import write_bytes_atomic
from conformance.reports.environment import describe
from conformance.speed.bench import BenchCase, copy_bandwidth, run_named


def run_bench(
    globs: Sequence[str] | None,
    sizes: Sequence[int],
    dtypes: Sequence[str],
    devices: Sequence[str],
    grad: bool,
    output: Path,
    specs: Sequence[str] = (),
) -> int:
    adapters = select(discover(list(specs)).adapters, globs)
    if not globs:
        adapters = [a for a in adapters if not a.extended]
    cases = [
        BenchCase(a.name, size, dtype, device, backward)
        for a in adapters
        for dtype in dtypes
        for device in devices
        for size in sizes
        for backward in ((False, True) if grad else (False,))
    ]
    frameworks: dict[str, set[str]] = {}
    for adapter in adapters:
        frameworks.setdefault(adapter.framework, set()).add(adapter.name)
    bandwidth = copy_bandwidth()  # here, before any framework: the machine's roofline
    results: list[dict[str, Any]] = []
    console = Console()
    with Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:  # fmt: skip
        task = progress.add_task("benchmarks", total=len(cases))
        for names in frameworks.values():
            mine = [c for c in cases if c.adapter in names]
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                for case in mine:
                    progress.update(task, description=case.label[:40])
                    results.append(pool.submit(run_named, tuple(specs), case).result())
                    progress.advance(task)
    for r in results:
        r["roofline_percent"] = (
            None if r["gb_per_s"] is None else 100 * r["gb_per_s"] * 1e9 / bandwidth
        )
    core = overhead()
    document = {
        "environment": describe([], REGISTRY_PATH),
        "copy_bandwidth_gb_per_s": bandwidth / 1e9,
        "timing_core_overhead_s": core.median,
        "results": results,
    }
    write_bytes_atomic(output, (json.dumps(document, indent=1) + "\n").encode())
    print(table(results))
    print(
        f"copy bandwidth {bandwidth / 1e9:.1f} GB/s (the roofline); "
        f"timing core overhead {core.median * 1e9:.0f} ns per call; JSON: {output}"
    )
    return 0


def table(results: Sequence[dict[str, Any]]) -> str:
    header = ["adapter", "pass", "n", "dtype", "device", "median", "IQR", "GB/s", "roofline"]
    rows = [header]
    for r in results:
        kind = "fwd+bwd" if r["grad"] else "fwd"
        base = [r["adapter"], kind, f"{r['size']:g}", r["dtype"], r["device"]]
        if r["timing_s"] is None:
            rows.append([*base, f"skipped: {r['skipped']}"[:60], "", "", ""])
            continue
        t = r["timing_s"]
        spread = (t["q3"] - t["q1"]) / t["median"] if t["median"] else 0.0
        star = " *" if r["includes_conversion"] else ""
        rows.append([*base, _seconds(t["median"]) + star, f"{100 * spread:.0f}%",
                     f"{r['gb_per_s']:.2f}", f"{r['roofline_percent']:.1f}%"])  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r["includes_conversion"] for r in results):
        lines.append("* includes converting inputs: the adapter only implements _run")
    return "\n".join(lines)


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"
