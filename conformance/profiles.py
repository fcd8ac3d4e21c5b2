"""Every named profile, each defined once, and the ``BCE_BENCH_*`` environment variables.

Matrix profiles (``MATRIX_PROFILES``: quick, full) say which dtypes a conformance run
covers and whether the extended adapters run without being named; ``bce-conformance run
--profile``, ``pytest --profile`` and ``build_plan`` read them. Benchmark profiles
(``BENCH_PROFILES``: all, quick, smoke, gate, versions) say which asv benchmarks run, over
which adapters, and on which matrix profile the agreement benchmarks run; the gate
(``conformance/speed/gate.py``) and the Makefile's ``bench*`` targets read them, the
Makefile through this module's command line:

    python -m conformance.profiles list            # every profile and variable
    python -m conformance.profiles asv-args NAME   # a benchmark profile's `asv run -b` words
    python -m conformance.profiles env NAME        # its BCE_BENCH_* assignments

Both print shell words, so that make can paste them into a command line. A benchmark
profile reaches the benchmarks (``conformance/speed/suite.py``, imported by asv's own
processes) through the variables of ``BENCH_VARIABLES``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.calls import DTYPES
from conformance.engine.cases import CASES_DIR


@dataclass(frozen=True)
class MatrixProfile:
    """What a conformance run covers when no ``--dtypes`` or ``--adapters`` narrows it."""

    name: str
    summary: str
    dtypes: tuple[str, ...]
    extended: bool
    """Whether the extended adapters (``Adapter.extended``: compiled modes, Keras 3 backends,
    pipelines) run; when False they run only when ``--adapters`` names them."""


MATRIX_PROFILES = {
    profile.name: profile
    for profile in (
        MatrixProfile("quick", "float32 and float64, eager APIs", ("float32", "float64"), False),
        MatrixProfile(
            "full", "every dtype, compiled modes, Keras 3 backends and pipelines too", DTYPES, True
        ),
    )
}
DEFAULT_MATRIX_PROFILE = "quick"
AGREEMENT_MATRIX_PROFILE = "full"
"""The agreement benchmarks' matrix profile when ``BCE_BENCH_PROFILE`` is not set."""


def matrix_profile(name: str) -> MatrixProfile:
    """The matrix profile called ``name``; ValueError naming the known ones."""
    if name not in MATRIX_PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {', '.join(MATRIX_PROFILES)}")
    return MATRIX_PROFILES[name]


def matrix_help() -> str:
    """The ``--profile`` help of the command line and of pytest."""
    return "; ".join(f"{p.name}: {p.summary}" for p in MATRIX_PROFILES.values())


@dataclass(frozen=True)
class Variable:
    """An environment variable the benchmarks read when asv imports them."""

    name: str
    meaning: str
    default: str


ADAPTERS_VARIABLE = Variable(
    "BCE_BENCH_ADAPTERS",
    "extra adapter specs (module:object or path/file.py:object), comma-separated, "
    "benchmarked beside the built-ins and the installed plug-ins",
    "none",
)
ONLY_VARIABLE = Variable(
    "BCE_BENCH_ONLY", "comma-separated adapter name globs the grid is narrowed to", "every adapter"
)
PROFILE_VARIABLE = Variable(
    "BCE_BENCH_PROFILE", "the matrix profile the agreement benchmarks run", AGREEMENT_MATRIX_PROFILE
)
CASES_VARIABLE = Variable(
    "BCE_BENCH_CASES",
    "the case folder of the agreement benchmarks (an environment that installed the suite "
    "from a wheel, as asv's virtualenvs do, has none of its own)",
    "the checkout's cases/",
)
BENCH_VARIABLES = (ADAPTERS_VARIABLE, ONLY_VARIABLE, PROFILE_VARIABLE, CASES_VARIABLE)


@dataclass(frozen=True)
class Pick:
    """Some asv benchmarks: those under ``name`` (a module, a class or a method), and for a
    parameterised method the values each parameter may take (``params``: the method's
    parameter names in its order, each with its allowed values, None for any)."""

    name: str
    params: tuple[tuple[str, tuple[object, ...] | None], ...] = ()

    def regex(self) -> str:
        """The ``asv run -b`` regex: asv searches it in ``name(value, ...)``, each value as
        its ``repr``."""
        head = "^" + re.escape(self.name)
        if not self.params:
            return head + r"(\.|\(|$)"
        return head + r"\(" + ", ".join(_alternatives(a) for _, a in self.params) + r"\)$"


def _alternatives(allowed: tuple[object, ...] | None) -> str:
    if allowed is None:
        return ".*"
    words = [re.escape(repr(value)) for value in allowed]
    return words[0] if len(words) == 1 else "(" + "|".join(words) + ")"


def pick(name: str, params: Mapping[str, object] | None = None) -> Pick:
    """A ``Pick`` with ``params`` in the method's parameter order, each a tuple of allowed
    values, one value, or None for any."""
    return Pick(
        name,
        tuple(
            (key, None if v is None else tuple(v) if isinstance(v, tuple) else (v,))
            for key, v in (params or {}).items()
        ),
    )


def forward_seconds(*sizes: int) -> Pick:
    """Every adapter's forward call at ``sizes``, float32 on the CPU."""
    return pick(
        "speed.Forward.track_seconds",
        {"adapter": None, "size": sizes, "dtype": "float32", "device": "cpu"},
    )


AGREEMENT = pick("agreement")
MACHINE = pick("roofline.Machine")
ROOFLINE = pick(
    "roofline.Roofline.track_percent",
    {"adapter": None, "size": None, "dtype": "float32", "pass": "forward"},
)
SMOKE_ADAPTERS = (
    "numpy.stable",
    "torch.nn.functional.binary_cross_entropy_with_logits",
    "torch.nn.BCELoss",
    "torch.compile(F.binary_cross_entropy_with_logits)",
    "torch.sigmoid+F.binary_cross_entropy",
    "tf.nn.sigmoid_cross_entropy_with_logits",
    "tf.function(jit_compile=True)(tf.nn.sigmoid_cross_entropy_with_logits)",
    "keras.losses.BinaryCrossentropy",
    "keras.Model(sigmoid).compile(BinaryCrossentropy).evaluate",
    "optax.sigmoid_binary_cross_entropy",
    "jax.jit(optax.sigmoid_binary_cross_entropy)",
    "keras.ops.binary_crossentropy@jax",
)
"""One adapter of each kind: each adapter class, the compiled modes, a pipeline, a Keras
backend helper. The other adapters of a class run the same benchmark code with other
arguments, and the conformance matrix runs every adapter's prepare/execute at every dtype."""


@dataclass(frozen=True)
class BenchProfile:
    """Which asv benchmarks run, over which adapters, with agreement on which matrix profile."""

    name: str
    summary: str
    picks: tuple[Pick, ...]
    """Empty: every benchmark."""
    adapters: tuple[str, ...] = ()
    """Name globs (``BCE_BENCH_ONLY``); empty: the variable is left as it is."""
    agreement: str | None = None
    """The agreement benchmarks' matrix profile (``BCE_BENCH_PROFILE``); None: the variable
    is left as it is."""
    checkout_cases: bool = False
    """Read the cases from this checkout (``BCE_BENCH_CASES``): asv's virtualenvs install the
    suite from a wheel, without them."""

    def regexes(self) -> list[str]:
        """The ``asv run -b`` regexes (none: every benchmark)."""
        return [p.regex() for p in self.picks]

    def asv_args(self) -> list[str]:
        return [word for regex in self.regexes() for word in ("-b", regex)]

    def environment(self) -> dict[str, str]:
        values = {
            ONLY_VARIABLE: ",".join(self.adapters),
            PROFILE_VARIABLE: self.agreement or "",
            CASES_VARIABLE: str(CASES_DIR) if self.checkout_cases else "",
        }
        return {variable.name: value for variable, value in values.items() if value}


BENCH_PROFILES = {
    profile.name: profile
    for profile in (
        BenchProfile("all", "every benchmark", ()),
        BenchProfile(
            "quick",
            "forward at 1e3 and 1e6 float32 on the CPU, the roofline at 1e7 float32, "
            "compilation at 1e6, peak memory at 1e6, the machine, and agreement",
            (
                forward_seconds(1_000, 1_000_000),
                ROOFLINE,
                pick(
                    "speed.Compile.track_first_call_seconds",
                    {"adapter": None, "size": 1_000_000, "dtype": None, "pass": "forward"},
                ),
                pick("memory.PeakMemory.peakmem_forward", {"adapter": None, "size": 1_000_000}),
                MACHINE,
                AGREEMENT,
            ),
        ),
        BenchProfile(
            "smoke",
            "every benchmark function at its smallest parameters, float32 on the CPU, over "
            "one adapter of each kind; the roofline at 1e7 float32 forward; agreement on the "
            "quick matrix profile",
            (
                forward_seconds(1_000),
                pick(
                    "speed.ForwardBackward.track_seconds",
                    {"adapter": None, "size": 1_000, "dtype": "float32", "device": "cpu"},
                ),
                pick(
                    "speed.Compile.track_first_call_seconds",
                    {"adapter": None, "size": 1_000, "dtype": "float32", "pass": None},
                ),
                pick("memory.PeakMemory.peakmem_forward", {"adapter": None, "size": 1_000_000}),
                pick(
                    "memory.PeakMemory.peakmem_forward_backward",
                    {"adapter": None, "size": 1_000_000},
                ),
                ROOFLINE,
                MACHINE,
                AGREEMENT,
            ),
            adapters=SMOKE_ADAPTERS,
            agreement="quick",
        ),
        BenchProfile(
            "gate",
            "every adapter's forward call at 1e6 float32 (long enough to dwarf the timer, short "
            "enough for CI), and agreement on the quick matrix profile",
            (forward_seconds(1_000_000), AGREEMENT),
            agreement="quick",
        ),
        BenchProfile(
            "versions",
            "the JAX adapters' forward at 1e3 and 1e6 float32 on the CPU, and agreement on the "
            "quick matrix profile",
            (forward_seconds(1_000, 1_000_000), AGREEMENT),
            adapters=("jax.*", "optax.*"),
            agreement="quick",
            checkout_cases=True,
        ),
    )
}


def _shell_environment(values: Mapping[str, str]) -> str:
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def _list() -> str:
    lines = ["matrix profiles (bce-conformance run --profile, pytest --profile):"]
    lines += [
        f"  {p.name}: {p.summary}; dtypes {', '.join(p.dtypes)}" for p in MATRIX_PROFILES.values()
    ]
    lines.append("benchmark profiles (make bench-NAME; make bench runs all):")
    for profile in BENCH_PROFILES.values():
        lines.append(f"  {profile.name}: {profile.summary}")
        if profile.environment():
            lines.append(f"    environment: {_shell_environment(profile.environment())}")
        lines += [f"    -b {p.regex()}" for p in profile.picks]
    lines.append("environment variables the benchmarks read:")
    lines += [f"  {v.name}: {v.meaning} (default: {v.default})" for v in BENCH_VARIABLES]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.profiles", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every profile and environment variable")
    for command, what in (
        ("asv-args", "its asv run -b arguments"),
        ("env", "its environment variable assignments"),
    ):
        sub.add_parser(command, help=f"a benchmark profile's {what}, as shell words").add_argument(
            "profile", choices=BENCH_PROFILES
        )
    args = parser.parse_args(argv)
    if args.command == "list":
        print(_list())
    elif args.command == "asv-args":
        print(shlex.join(BENCH_PROFILES[args.profile].asv_args()))
    else:
        print(_shell_environment(BENCH_PROFILES[args.profile].environment()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
