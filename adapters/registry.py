"""Find adapters: the built-ins, third-party plug-ins, and ``module:object`` given by hand.

- Built-ins are listed by module name and imported here; those modules import no framework
  at import time, so this costs milliseconds whatever is installed.
- Plug-ins register in the entry-point group ``bce_conformance.adapters``; each entry point
  names an ``Adapter`` instance, a sequence of them, or a zero-argument callable returning
  either.
- ``load_spec`` does the same for one object named on the command line, as
  ``package.module:NAME`` or as a file, ``path/to/my_bce.py:NAME`` (imported under a
  private module name, so it needs no package and no ``sys.path`` entry).

Every adapter keeps the source it came from. A name seen twice keeps the first and warns,
naming both sources. A plug-in that fails to load becomes a ``LoadProblem`` (its error
message, reported, never raised), so one broken plug-in cannot stop a run.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import Any

from adapters.base import Adapter

ENTRY_POINT_GROUP = "bce_conformance.adapters"
BUILTIN_MODULES = (
    "adapters.torch_bce",
    "adapters.tensorflow_bce",
    "adapters.jax_bce",
    "adapters.numpy_bce",
    "adapters.keras_backends",
    "adapters.pipelines",
)


class AdapterSpecError(ValueError):
    """A ``module:object`` spec that does not name adapters."""


@dataclass(frozen=True)
class LoadProblem:
    source: str
    message: str


@dataclass
class Discovery:
    """What discovery found: adapters in order, where each came from, what failed to load."""

    adapters: list[Adapter]
    sources: dict[str, str] = field(default_factory=dict)
    """Adapter name -> where it came from: "built-in adapters.torch_bce", "entry point NAME
    (VALUE)" or "--adapter SPEC"."""
    problems: list[LoadProblem] = field(default_factory=list)


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
        "or a callable returning one (see adapters/base.py, or adapters/function.py to make "
        "a plain function an adapter)"
    )


def _import_file(path: Path, spec: str) -> ModuleType:
    """Import a Python file under a private name derived from its absolute path."""
    if not path.is_file():
        raise AdapterSpecError(f"{spec!r}: no such file {str(path)!r}")
    resolved = path.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    name = f"_bce_user_{resolved.stem.replace('-', '_')}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise AdapterSpecError(f"{spec!r}: {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # before running it: dataclasses and pickle look it up
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise AdapterSpecError(f"{spec!r}: {type(exc).__name__}: {exc}") from exc
    return module


def load_spec(spec: str) -> list[Adapter]:
    """Adapters named by ``module:object`` or ``path/to/file.py:object`` (``object`` may be
    dotted)."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise AdapterSpecError(
            f"{spec!r}: expected 'module:object' or 'path/to/file.py:object', e.g. "
            "'my_bce:ADAPTERS' or 'my_bce.py:my_bce'"
        )
    obj: Any
    if target.endswith(".py") or "/" in target:
        obj = _import_file(Path(target), spec)
    else:
        try:
            obj = importlib.import_module(target)
        except Exception as exc:  # ImportError, or the module's own error while importing
            raise AdapterSpecError(
                f"{spec!r}: cannot import {target!r}: {type(exc).__name__}: {exc}"
            ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AdapterSpecError(f"{spec!r}: {target} has no attribute {attr!r}") from None
    return _as_adapters(obj, spec)


def builtin_adapters() -> list[Adapter]:
    return [a for a, _ in _builtin_with_sources()]


def _builtin_with_sources() -> list[tuple[Adapter, str]]:
    out: list[tuple[Adapter, str]] = []
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        out.extend((adapter, f"built-in {module_name}") for adapter in module.ADAPTERS)
    return out


def discover(extra_specs: Iterable[str] = (), *, strict_specs: bool = True) -> Discovery:
    """Built-ins, then plug-ins, then ``extra_specs``; duplicates warn and keep the first.

    A spec that fails to load raises ``AdapterSpecError`` (a usage error before any work),
    or with ``strict_specs=False`` becomes a ``LoadProblem`` like a broken plug-in."""
    found = _builtin_with_sources()
    problems: list[LoadProblem] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry.name} ({entry.value})"
        try:
            found.extend((a, source) for a in _as_adapters(entry.load(), source))
        except Exception as exc:  # a broken plug-in is reported, never fatal
            problems.append(LoadProblem(source, f"{type(exc).__name__}: {exc}"))
    for spec in extra_specs:
        source = f"--adapter {spec}"
        try:
            found.extend((a, source) for a in load_spec(spec))
        except AdapterSpecError as exc:
            if strict_specs:
                raise
            problems.append(LoadProblem(source, str(exc)))
    discovery = Discovery([], {}, problems)
    for adapter, source in found:
        if adapter.name in discovery.sources:
            warnings.warn(
                f"adapter name {adapter.name!r} from {source} is already provided by "
                f"{discovery.sources[adapter.name]}; keeping that one",
                stacklevel=2,
            )
            continue
        discovery.sources[adapter.name] = source
        discovery.adapters.append(adapter)
    return discovery


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
