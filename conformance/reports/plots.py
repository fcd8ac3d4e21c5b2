"""The HTML report's plots, drawn with matplotlib (Agg) as inline SVG: nothing to fetch.

- error against logit magnitude: where each framework starts to break as |x| grows;
- error against distance of the probability from 0 and from 1;
- the verdict heatmap: adapters x case files, the share of checks that do not conform.

Points come from the elements a report keeps (``conformance/engine/evidence.py``): every element
of a small case and the worst ones of a large case, so the plots show each adapter's
worst behaviour at each magnitude, which is what they are for. Errors are in ULPs of the
check's dtype; 0 is drawn at the plot's floor and an infinite error (NaN or infinity
where a finite value was due) at its ceiling. matplotlib is imported when a plot is drawn,
not with this module: every command, worker processes included, imports the report code,
and pyplot alone takes a noticeable part of a second.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from typing import Any

import numpy as np

from conformance.reports.records import Report
from conformance.vocabulary import Quantity

FLOOR_ULPS = 1e-2
CEILING_ULPS = 1e12
"""Errors are clipped to [floor, ceiling] so exact results and NaNs both stay visible."""
DTYPE_PANELS = ("float16", "bfloat16", "float32", "float64")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files only
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: Any) -> str:
    """The figure as an inline <svg>. Text is drawn as glyph paths (matplotlib's default
    svg.fonttype), so names from the report never reach the markup as text."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline in HTML


def _elements(report: Report, form: str) -> dict[str, dict[str, list]]:
    """dtype -> adapter -> [(input, error in ULPs)] over value elements of ``form`` cases."""
    points: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    forms = {case: info["form"] for case, info in report.cases.items()}
    for check in report.checks:
        key = check.key
        if key.quantity is not Quantity.VALUE or check.values is None:
            continue
        if forms.get(key.case) != form:
            continue
        for e in check.values["elements"]:
            if e["input"] is None:
                continue
            x, error = float(e["input"]), float(e["error_ulps"])
            if math.isnan(x):
                continue
            points[key.dtype][key.adapter].append((x, error))
    return points


def _clip(errors: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(errors, nan=CEILING_ULPS, posinf=CEILING_ULPS),
                   FLOOR_ULPS, CEILING_ULPS)  # fmt: skip


def _panels(points: dict[str, dict[str, list]]) -> list[str]:
    return [d for d in DTYPE_PANELS if d in points]


def _worst_per_bin(xs: np.ndarray, errors: np.ndarray, edges: np.ndarray) -> tuple:
    """(bin centres, worst error) of the occupied log-spaced bins."""
    which = np.digitize(xs, edges)
    centres, worst = [], []
    for b in np.unique(which):
        if 0 < b < len(edges):
            centres.append(math.sqrt(edges[b - 1] * edges[b]))
            worst.append(errors[which == b].max())
    return np.array(centres), np.array(worst)


def error_vs_logit(report: Report) -> str | None:
    """Worst error per |logit| bin, one line per adapter, one panel per dtype."""
    points = _elements(report, "logits")
    panels = _panels(points)
    if not panels:
        return None
    edges = np.logspace(-8, 5, 40)
    figure, axes = _pyplot().subplots(
        1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False
    )
    for ax, dtype in zip(axes[0], panels, strict=True):
        for adapter, pairs in sorted(points[dtype].items()):
            data = np.array(pairs)
            magnitude = np.clip(np.abs(data[:, 0]), edges[0], edges[-1])
            x, y = _worst_per_bin(magnitude, _clip(data[:, 1]), edges)
            ax.plot(x, y, marker=".", linewidth=1, label=adapter)
        ax.set(xscale="log", yscale="log", title=dtype, xlabel="|logit|",
               ylim=(FLOOR_ULPS / 2, CEILING_ULPS * 2))  # fmt: skip
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("worst error (ULP)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.suptitle("Error against logit magnitude (value, worst element per bin)")
    return _svg(figure)


def error_vs_probability(report: Report) -> str | None:
    """Worst error against the distance of p from 0 (left) and from 1 (right)."""
    points = _elements(report, "probs")
    panels = _panels(points)
    if not panels:
        return None
    edges = np.logspace(-45, 0, 46)
    figure, axes = _pyplot().subplots(
        len(panels), 2, figsize=(11, 3.8 * len(panels)), squeeze=False, sharey=True,
        layout="constrained",
    )  # fmt: skip
    for row, dtype in zip(axes, panels, strict=True):
        for adapter, pairs in sorted(points[dtype].items()):
            data = np.array(pairs)
            p, errors = data[:, 0], _clip(data[:, 1])
            for ax, near_zero in zip(row, (True, False), strict=True):
                side = (p <= 0.5) if near_zero else (p > 0.5)
                distance = np.clip(p[side] if near_zero else 1 - p[side], edges[0], 1)
                if distance.size:
                    x, y = _worst_per_bin(distance, errors[side], edges)
                    ax.plot(x, y, marker=".", linewidth=1, label=adapter)
        for ax, label in zip(row, ("p (near 0)", "1 - p (near 1)"), strict=True):
            ax.set(xscale="log", yscale="log", xlabel=label, title=f"{dtype}: {label}",
                   ylim=(FLOOR_ULPS / 2, CEILING_ULPS * 2))  # fmt: skip
            ax.grid(True, which="major", alpha=0.3)
        row[0].set_ylabel("worst error (ULP)")
        row[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.suptitle("Error against probability near 0 and 1 (value, worst element per bin)")
    return _svg(figure)


def verdict_heatmap(report: Report) -> str | None:
    """Adapters x case files: % of the checks that ran that do not conform."""
    ran: dict[tuple[str, str], int] = defaultdict(int)
    bad: dict[tuple[str, str], int] = defaultdict(int)
    for check in report.checks:
        if not check.verdict.ran:
            continue
        key = (check.key.adapter, check.key.case.split("/")[0])
        ran[key] += 1
        bad[key] += check.verdict.failed
    if not ran:
        return None
    adapters = sorted({a for a, _ in ran})
    files = sorted({f for _, f in ran})
    grid = np.full((len(adapters), len(files)), np.nan)
    for (a, f), n in ran.items():
        grid[adapters.index(a), files.index(f)] = 100 * bad[(a, f)] / n
    figure, ax = _pyplot().subplots(figsize=(1.0 * len(files) + 4, 0.32 * len(adapters) + 1.8))
    image = ax.imshow(grid, cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(files)), files, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(adapters)), adapters, fontsize=8)
    for i in range(len(adapters)):
        for j in range(len(files)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] > 50 else "black")  # fmt: skip
    figure.colorbar(image, ax=ax, label="% fail or error")
    ax.set_title("Checks that do not conform, by adapter and case file (% of those that ran)")
    return _svg(figure)
