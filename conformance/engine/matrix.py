"""Expand cases x adapters x dtypes x devices x reductions x quantities into checks, and
run one check.

A check is skipped, with its reason, when its framework is missing or fails to import,
the device is absent, the dtype is not one the adapter runs, a finite value of the case
overflows the dtype, or the API cannot express the call (an option it lacks). Pairs whose
form differs (a probabilities case and a logits API) are not checks at all. Both pytest
and the CLI run checks through ``Runner.run``, so they give the same verdicts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from adapters.base import Adapter
from adapters.calls import DTYPES, Call, Outcome
from adapters.registry import LoadProblem, discover, select
from conformance import known_bugs
from conformance.engine.cases import CASES_DIR, Case, CaseError, load_cases
from conformance.engine.dtypes import float_format
from conformance.engine.reference import Inputs
from conformance.engine.reference_store import ReferenceCache
from conformance.engine.verdicts import Comparand, Judgement, judge, meets
from conformance.profiles import DEFAULT_MATRIX_PROFILE, matrix_profile
from conformance.vocabulary import CheckKey, Quantity, Verdict

DEFAULT_DEVICES = ("cpu", "gpu")


def split_list(text: str | None, choices: Sequence[str] | None = None) -> list[str] | None:
    """'a, b' -> ['a', 'b'] (None for nothing); ValueError naming any item not in ``choices``."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    bad = [i for i in items if choices is not None and i not in choices]
    if bad:
        raise ValueError(f"unknown {', '.join(bad)}; choose from {', '.join(choices or ())}")
    return items or None


@dataclass(frozen=True)
class Check:
    adapter: Adapter
    case: Case
    dtype: str
    device: str
    reduction: str
    quantity: Quantity = Quantity.VALUE

    @property
    def key(self) -> CheckKey:
        """Which check this is, by name."""
        return CheckKey(
            self.adapter.name, self.device, self.dtype, self.case.id, self.reduction, self.quantity
        )

    @property
    def id(self) -> str:
        """The key's id: adapter-device-dtype-case:reduction[:grad|:target_grad|:grad2]."""
        return str(self.key)


@dataclass(frozen=True)
class CheckGroup:
    """The checks of one adapter on one device and dtype over one case file: what the pytest
    front end shows as one test (one per check would cost pytest more than the checks)."""

    checks: tuple[Check, ...]

    @property
    def id(self) -> str:
        """adapter-device-dtype-case file"""
        first = self.checks[0]
        return f"{first.key.where}-{case_file(first.case)}"


def case_file(case: Case) -> str:
    """The stem of the file a case comes from (the first part of its id)."""
    return case.id.partition("/")[0]


def group_by_file(checks: Iterable[Check]) -> list[CheckGroup]:
    """``checks`` as groups of one adapter, device, dtype and case file, in plan order."""
    groups: dict[tuple[str, str, str, str], list[Check]] = {}
    for check in checks:
        key = (check.adapter.name, check.device, check.dtype, case_file(check.case))
        groups.setdefault(key, []).append(check)
    return [CheckGroup(tuple(members)) for members in groups.values()]


@dataclass
class CheckResult:
    check: Check
    judgement: Judgement
    known_bug: known_bugs.KnownBug | None
    framework_seconds: float

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict

    @property
    def is_finding(self) -> bool:
        """A fail or error that no known bug explains."""
        return self.verdict.is_finding(explained=self.known_bug is not None)


def expand(
    cases: Iterable[Case],
    adapters: Sequence[Adapter],
    dtypes: Sequence[str],
    devices: Sequence[str] = DEFAULT_DEVICES,
) -> list[Check]:
    checks: list[Check] = []
    for case in cases:
        case_dtypes = [d for d in dtypes if case.dtypes is None or d in case.dtypes]
        for adapter in adapters:
            if case.form not in adapter.forms:
                continue
            for device in devices:
                for dtype in case_dtypes:
                    for reduction in case.reductions:
                        checks.extend(
                            Check(adapter, case, dtype, device, reduction, quantity)
                            for quantity in Quantity
                            if quantity.checked(case.form, reduction, bool(case.expect_error))
                        )
    return checks


@dataclass
class Plan:
    """What one run will do: the adapters, the cases, the checks, and what failed to load."""

    adapters: list[Adapter]
    cases: list[Case]
    checks: list[Check]
    case_errors: list[CaseError]
    load_problems: list[LoadProblem]
    case_paths: list[Path]


def build_plan(
    *,
    adapter_globs: Sequence[str] | None = None,
    extra_adapters: Sequence[str] = (),
    dtypes: Sequence[str] | None = None,
    devices: Sequence[str] = DEFAULT_DEVICES,
    case_paths: Sequence[Path] | None = None,
    profile: str = DEFAULT_MATRIX_PROFILE,
    skip_plugins: Sequence[str] = (),
    loaded_cases: Sequence[Case] | None = None,
) -> Plan:
    """Adapters (built-in, plug-in, ``module:object``) x cases, expanded into checks.

    A profile without the extended adapters (``conformance/profiles.py``) leaves them out
    unless ``adapter_globs`` names them; ``dtypes`` overrides the profile's.
    ``skip_plugins``: plug-in sources not to load (they failed to load before).
    ``loaded_cases``: the cases of ``case_paths`` as another process read them (a worker
    is sent its supervisor's, so case files are read and validated once a run)."""
    discovery = discover(extra_adapters, skip=skip_plugins)
    adapters, problems = discovery.adapters, discovery.problems
    chosen = matrix_profile(profile)
    if not chosen.extended and not adapter_globs:
        adapters = [a for a in adapters if not a.extended]
    adapters = select(adapters, adapter_globs)
    dtypes = dtypes or chosen.dtypes
    paths = list(case_paths or [CASES_DIR])
    if loaded_cases is None:
        cases, case_errors = load_cases(paths)
    else:
        cases, case_errors = list(loaded_cases), []
    checks = expand(cases, adapters, dtypes, devices)
    return Plan(adapters, cases, checks, case_errors, problems, paths)


def overflow_reason(check: Check) -> str | None:
    """Why the case cannot be run at this dtype: a finite value it states overflows.

    1e30 is infinite in float16; the check would silently become an infinity case, which
    the cases with explicit infinities already cover.
    """
    fmt = float_format(check.dtype)
    arrays = check.case.arrays(fmt)
    for name in ("input", "target", "weight", "pos_weight", "sample_weight"):
        values = getattr(arrays, name)
        if values is None:
            continue
        rounded = _target_dtype(check, values) if name == "target" else fmt.round(values)
        overflowed = np.isfinite(values) & ~np.isfinite(rounded.astype(np.float64))
        if overflowed.any():
            value = float(values[overflowed].flat[0])
            return f"{name} value {value:g} is not finite in {check.dtype} (it overflows)"
    return None


def _target_dtype(check: Check, values: np.ndarray) -> np.ndarray:
    """The target in the dtype the case gives it (``target_dtype``), else the check's."""
    name = check.case.target_dtype or check.dtype
    if name in DTYPES:
        return float_format(name).round(values)
    return values.astype(name)  # bool, int32, int64: whole numbers (checked on loading)


def build_call(check: Check) -> tuple[Call, Inputs]:
    """The framework call (arrays in the dtype; the target in its own where the case gives
    one) and the reference's exact float64 inputs."""
    fmt = float_format(check.dtype)
    arrays = check.case.arrays(fmt)
    x, y = fmt.round(arrays.input), _target_dtype(check, arrays.target)
    w = None if arrays.weight is None else fmt.round(arrays.weight)
    pw = None if arrays.pos_weight is None else fmt.round(arrays.pos_weight)
    sw = None if arrays.sample_weight is None else fmt.round(arrays.sample_weight)

    def exact(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        return np.broadcast_to(a.astype(np.float64), x.shape)

    call = Call(
        form=check.case.form,  # type: ignore[arg-type]
        input=x,
        target=y,
        weight=w,
        pos_weight=pw,
        reduction=check.reduction,  # type: ignore[arg-type]
        dtype=check.dtype,
        device=check.device,
        grad=check.quantity.grad,
        wrt=check.quantity.wrt,
        order=check.quantity.order,
        label_smoothing=check.case.label_smoothing,
        axis=check.case.axis,
        sample_weight=sw,
    )
    sample_weight = call.sample_weight_full()
    inputs = Inputs(
        form=check.case.form,
        dtype=check.dtype,
        x=x.astype(np.float64),
        y=y.astype(np.float64),
        weight=exact(w),
        pos_weight=exact(pw),
        label_smoothing=call.label_smoothing,
        axis=call.axis,
        sample_weight=None if sample_weight is None else sample_weight.astype(np.float64),
    )
    return call, inputs


TIME_PARTS = ("import", "compile", "framework", "reference", "judging")
"""Where a worker's time goes, per framework: importing it (the first check that asks for
a device), compiling (compiled modes' first call per signature), the framework's calls,
the high-precision reference, and the suite's own verdict and registry work."""


class Runner:
    """Runs checks, sharing one reference cache and the per-adapter availability answers;
    ``seconds[framework][part]`` adds up where the time went (``TIME_PARTS``)."""

    def __init__(
        self, bugs: Sequence[known_bugs.KnownBug] = (), references: ReferenceCache | None = None
    ) -> None:
        self.references = references or ReferenceCache()
        self.bugs = list(bugs)
        self.seconds: dict[str, dict[str, float]] = {}
        self._unavailable: dict[tuple[str, str], str | None] = {}

    def _add(self, framework: str, part: str, seconds: float) -> None:
        parts = self.seconds.setdefault(framework, dict.fromkeys(TIME_PARTS, 0.0))
        parts[part] += seconds

    def skip_reason(self, adapter: Adapter, device: str) -> str | None:
        key = (adapter.name, device)
        if key not in self._unavailable:
            reason = adapter.available()
            if reason is None:
                start = time.perf_counter()
                try:
                    reason = adapter.device_unavailable(device)
                except Exception as exc:  # a framework that fails to import is a skip
                    reason = f"{adapter.framework} failed to import: {type(exc).__name__}: {exc}"
                self._add(adapter.framework, "import", time.perf_counter() - start)
            self._unavailable[key] = reason
        return self._unavailable[key]

    def run(self, check: Check) -> CheckResult:
        adapter = check.adapter
        reason = self.skip_reason(adapter, check.device)  # cheap, and half the checks here
        if not reason:
            call, inputs = build_call(check)
            reason = overflow_reason(check) or adapter.unsupported(call)
        if reason:
            return CheckResult(check, Judgement(Verdict.SKIP, reason), None, 0.0)
        start = time.perf_counter()
        outcome: Outcome = adapter.run(call)
        judging_from = time.perf_counter()
        elapsed = judging_from - start - outcome.compile_seconds
        self._add(adapter.framework, "framework", elapsed)
        self._add(adapter.framework, "compile", outcome.compile_seconds)
        reference_before = self.references.seconds
        judgement = judge(
            adapter=adapter,
            outcome=outcome,
            expect_error=check.case.expect_error,
            comparand=comparand(check),
            fmt=float_format(check.dtype),
            math_ref=lambda: self.references.get(inputs),
            convention_ref=lambda: self.references.get(inputs, adapter.conventions),
            inputs=inputs,
            mixed_dtypes=call.mixed_dtypes,
        )
        bug = None
        if judgement.verdict.failed:
            bug = known_bugs.explain(
                self.bugs,
                verdict=judgement.verdict.value,
                elements={
                    "input": inputs.x,
                    "target": inputs.y,
                    "weight": inputs.weight,
                    "pos_weight": inputs.pos_weight,
                },
                outside=judgement.outside,
                holds_at=lambda dtype: self._meets_at(check, outcome, inputs, dtype),
                **check_fields(check),
            )
        judgement = replace(judgement, outside=None)  # served its purpose; keep results small
        reference_s = self.references.seconds - reference_before
        self._add(adapter.framework, "reference", reference_s)
        self._add(adapter.framework, "judging", time.perf_counter() - judging_from - reference_s)
        return CheckResult(check, judgement, bug, elapsed)

    def _meets_at(self, check: Check, outcome: Outcome, inputs: Inputs, dtype: str) -> bool:
        """Whether the value meets the mathematics, or the adapter's conventions, within
        the tolerance of ``dtype`` (a result silently computed in a lower precision)."""
        if outcome.error is not None:
            return False
        got = np.asarray(outcome.grad if check.quantity.grad else outcome.value)
        conventions = check.adapter.conventions
        references = [self.references.get(inputs)]
        if conventions.alters_values():
            references.append(self.references.get(inputs, conventions))
        return meets(got, comparand(check), float_format(dtype), references)


def comparand(check: Check) -> Comparand:
    """What the verdict compares for ``check``."""
    return Comparand(check.reduction, check.quantity, per_sample=check.case.axis is not None)


def check_fields(check: Check) -> dict[str, str]:
    """How the registry names a check (the keyword arguments of ``KnownBug.matches``)."""
    return {**check.key.fields(), "version": check.adapter.version()}


def expected_bug(bugs: Sequence[known_bugs.KnownBug], check: Check) -> known_bugs.KnownBug | None:
    """The entry that says this check must fail (see ``KnownBug.expectation``)."""
    fields = check_fields(check)
    return next((b for b in bugs if b.expects(**fields)), None)
