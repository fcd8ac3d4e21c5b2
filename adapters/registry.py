"""Find adapters: the built-ins, third-party plug-ins, and ``module:object`` given by hand.

- Built-ins are listed by module name and imported here; those modules import no framework
  at import time, so this costs milliseconds whatever is installed.
- Plug-ins register in the entry-point group ``bce_conformance.adapters``; each entry point
  names an ``Adapter`` instance, a sequence of them, or a zero-argument callable returning
  either.
- ``load_spec("pkg.module:NAME")`` does the same for one object named on the command line.

A name seen twice keeps the first and warns. A plug-in that fails to load becomes a
``LoadProblem`` (reported, never raised), so one broken plug-in cannot stop a run.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from adapters.base import Adapter

ENTRY_POINT_GROUP = "bce_conformance.adapters"
BUILTIN_MODULES = (
    "adapters.torch_bce",
    "adapters.tensorflow_bce",
    "adapters.jax_bce",
    "adapters.numpy_bce",
    "adapters.keras_backends",
)


class AdapterSpecError(ValueError):
    """A ``module:object`` spec that does not name adapters."""


@dataclass(frozen=True)
class LoadProblem:
    source: str
    message: str


def _as_adapters(obj: Any, source: str) -> list[Adapter]:
    if isinstance(obj, Adapter):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, Adapter):
        return [obj()]
    if callable(obj) and not isinstance(obj, list | tuple):
        return _as_adapters(obj(), source)
    if isinstance(obj, list | tuple) and all(isinstance(a, Adapter) for a in obj):
        return list(obj)
    raise AdapterSpecError(
        f"{source} is {type(obj).__name__}, not an Adapter, a sequence of Adapters, "
        "or a callable returning one (see adapters/base.py)"
    )


def load_spec(spec: str) -> list[Adapter]:
    """Adapters named by ``module:object`` (``object`` may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise AdapterSpecError(f"{spec!r}: expected 'module:object', e.g. 'my_bce:ADAPTERS'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterSpecError(f"{spec!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AdapterSpecError(f"{spec!r}: {module_name} has no attribute {attr!r}") from None
    return _as_adapters(obj, spec)


def builtin_adapters() -> list[Adapter]:
    out: list[Adapter] = []
    for module_name in BUILTIN_MODULES:
        out.extend(importlib.import_module(module_name).ADAPTERS)
    return out


def plugin_adapters() -> tuple[list[Adapter], list[LoadProblem]]:
    out: list[Adapter] = []
    problems: list[LoadProblem] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry.name} ({entry.value})"
        try:
            out.extend(_as_adapters(entry.load(), source))
        except Exception as exc:  # a broken plug-in is reported, never fatal
            problems.append(LoadProblem(source, f"{type(exc).__name__}: {exc}"))
    return out, problems


def all_adapters(extra_specs: Iterable[str] = ()) -> tuple[list[Adapter], list[LoadProblem]]:
    """Built-ins, then plug-ins, then ``extra_specs``; duplicates warn and keep the first."""
    candidates = builtin_adapters()
    plugins, problems = plugin_adapters()
    candidates.extend(plugins)
    for spec in extra_specs:
        candidates.extend(load_spec(spec))
    unique: dict[str, Adapter] = {}
    for adapter in candidates:
        if adapter.name in unique:
            warnings.warn(
                f"adapter name {adapter.name!r} is registered twice; keeping the first",
                stacklevel=2,
            )
            continue
        unique[adapter.name] = adapter
    return list(unique.values()), problems


def select(adapters: Iterable[Adapter], patterns: Iterable[str] | None) -> list[Adapter]:
    """Adapters whose name matches any glob in ``patterns`` (all when None)."""
    adapters = list(adapters)
    if not patterns:
        return adapters
    patterns = list(patterns)
    chosen = [a for a in adapters if any(fnmatchcase(a.name, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatchcase(a.name, p) for a in adapters)]
    if unmatched:
        names = ", ".join(a.name for a in adapters)
        raise AdapterSpecError(f"no adapter matches {', '.join(unmatched)}; known: {names}")
    return chosen
