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
message, reported, never raised), so one broken plug-in cannot stop a run. Nor can one
that never finishes importing: each plug-in and spec is loaded in a thread given
``IMPORT_TIMEOUT_S``; past it, the load is abandoned (the thread is left blocked, a
daemon) and reported naming the module. ``skip`` leaves out sources already known to be
broken, so worker processes do not wait for the same import again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import Any

from adapters.base import Adapter
from adapters.calls import SHAPE_RULES

ENTRY_POINT_GROUP = "bce_conformance.adapters"
IMPORT_TIMEOUT_S = 60.0
"""How long loading one plug-in may take: importing a framework is part of it for some
(seconds for TensorFlow: ``python -X importtime -c "import tensorflow"``), a hang is not."""
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
    adapters = _instances(obj, source)
    for adapter in adapters:
        if adapter.shape_rule not in SHAPE_RULES:
            raise AdapterSpecError(
                f"{source}: {adapter.name} declares shape_rule={adapter.shape_rule!r}; "
                f"give one of {SHAPE_RULES} (see Adapter.shape_rule in adapters/base.py)"
            )
    return adapters


def _instances(obj: Any, source: str) -> list[Adapter]:
    if isinstance(obj, Adapter):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, Adapter):
        return [obj()]
    if callable(obj) and not isinstance(obj, list | tuple):
        return _instances(obj(), source)
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


def _load_entry_point(entry: importlib.metadata.EntryPoint, source: str) -> list[Adapter]:
    return _as_adapters(entry.load(), source)


def _within(load: Callable[[], list[Adapter]], what: str, timeout: float) -> list[Adapter]:
    """``load()`` in a daemon thread; AdapterSpecError if it raises or does not finish."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(load())
        except BaseException as exc:  # carried to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=target, name=f"load {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise AdapterSpecError(
            f"{what}: importing it did not finish in {timeout:g} s (does the module hang at "
            "import?); the run goes on without it"
        )
    if isinstance(outcome[0], AdapterSpecError):
        raise outcome[0]
    if isinstance(outcome[0], BaseException):
        raise AdapterSpecError(f"{what}: {type(outcome[0]).__name__}: {outcome[0]}")
    return outcome[0]  # type: ignore[no-any-return]


def discover(
    extra_specs: Iterable[str] = (),
    *,
    strict_specs: bool = True,
    skip: Iterable[str] = (),
    timeout: float | None = None,
) -> Discovery:
    """Built-ins, then plug-ins, then ``extra_specs``; duplicates warn and keep the first.

    A spec that fails to load raises ``AdapterSpecError`` (a usage error before any work),
    or with ``strict_specs=False`` becomes a ``LoadProblem`` like a broken plug-in. Sources
    in ``skip`` (a ``LoadProblem``'s ``source``) are not loaded at all. ``timeout``: per
    source, default ``IMPORT_TIMEOUT_S``."""
    timeout = IMPORT_TIMEOUT_S if timeout is None else timeout
    found = _builtin_with_sources()
    problems: list[LoadProblem] = []
    skipped = set(skip)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry.name} ({entry.value})"
        if source in skipped:
            continue
        try:
            load = functools.partial(_load_entry_point, entry, source)
            found.extend((a, source) for a in _within(load, source, timeout))
        except AdapterSpecError as exc:  # a broken plug-in is reported, never fatal
            problems.append(LoadProblem(source, str(exc).removeprefix(f"{source}: ")))
    for spec in extra_specs:
        source = f"--adapter {spec}"
        if source in skipped:
            continue
        try:
            load = functools.partial(load_spec, spec)
            found.extend((a, source) for a in _within(load, spec, timeout))
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
