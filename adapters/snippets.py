"""Helpers for ``Adapter.reproducer``: source code that makes one call with the framework's
own API, to paste into an upstream bug report.

The contract: the code runs after ``import numpy as np`` and after ``x`` (the input:
probabilities or logits), ``y`` (the target) and, where the call has them, ``w`` (weight)
and ``pw`` (pos_weight) are bound to float64 NumPy arrays holding the check's dtype values
exactly. It converts them to the dtype itself (exact: every value is one of the dtype's)
and must leave ``loss`` and, for a gradient call, ``grad`` as NumPy float64 arrays.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from adapters.calls import Call


def keywords(**pairs: str | None) -> str:
    """``k=v`` pairs for a call's argument list, leaving out those that are None."""
    return ", ".join(f"{k}={v}" for k, v in pairs.items() if v is not None)


def reduced(expression: str, reduction: str, mean: str, total: str) -> str:
    """The reduction step an elementwise API leaves to the user, as source."""
    if reduction == "mean":
        return f"{mean}({expression})"
    if reduction == "sum":
        return f"{total}({expression})"
    return expression


def optional(call: Call, name: str, value: str) -> str | None:
    """``value`` when the call has the array ``name`` (weight, pos_weight), else None."""
    return value if getattr(call, name) is not None else None


def sources(functions: Iterable[Callable[..., Any]]) -> str:
    """The source of helper functions a reproducer inlines, so it needs nothing of ours."""
    return "\n\n".join(inspect.getsource(f).rstrip() for f in functions)
