"""Load, validate and materialise the YAML case files.

A case file is one theme (``cases/edge-probabilities.yaml``) validated against
``case.schema.json`` beside this module; each case gives its values literally, through a
seeded generator, or from an ``.npy`` data file beside it. Loading never stops at the first
bad file: every problem becomes one ``CaseError`` naming the file, the line where the file
has one, the case id and the field, and every good case of every file still loads.

Bounds, so that no file can stall or exhaust a run: the YAML limits of
``conformance/engine/case_yaml.py`` (size, encoding, alias expansion, safe tags only);
``MAX_ELEMENTS`` values per array, generated or loaded; generator parameters finite; data
files inside the case file's folder (no absolute paths, no ``..`` or links leading out),
``.npy`` only, at most ``MAX_DATA_FILE_BYTES``, read without pickle.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import numpy as np

from adapters.calls import REDUCTIONS
from conformance.engine import case_yaml
from conformance.engine.dtypes import FloatFormat, float_format

CASES_DIR = Path(__file__).resolve().parents[2] / "cases"
SCHEMA_PATH = Path(__file__).with_name("case.schema.json")
"""The case-file schema ships with the loader that enforces it (an installed wheel has no
``cases/`` folder beside it)."""
ARRAY_FIELDS = ("input", "target", "weight", "pos_weight", "sample_weight")
DEFAULT_REDUCTIONS = REDUCTIONS
"""What a case runs unless it lists ``reductions`` (``weighted_mean`` is asked for)."""

MAX_ELEMENTS = 1_000_000
"""Values per array of a case: at the reference's cost per element in mpmath (the
reference column of the time breakdown ``bce-conformance run`` prints, over the elements
it checked), tens of seconds per dtype: the upper end of what a conformance case should
cost."""
MAX_DATA_FILE_BYTES = 16 * 1024 * 1024
"""An .npy file of MAX_ELEMENTS float64 values is 8 MB; twice that is the limit."""

_NAMED = ("smallest_subnormal", "smallest_normal", "largest_below_one", "max")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class CaseError:
    """One problem in a case file, located as precisely as the file allows."""

    file: str
    case: str | None
    field: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.case:
            where += f": case {self.case!r}"
        if self.field:
            where += f": field {self.field!r}"
        return f"{where}: {self.message}"


class CaseFileError(Exception):
    """Raised by ``load_cases(strict=True)`` when any file has problems."""

    def __init__(self, errors: Sequence[CaseError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class Published:
    """A value published elsewhere (docs, a tutorial) that the reference must reproduce."""

    reduction: str
    value: float
    digits: int
    source: str


@dataclass(frozen=True)
class CaseArrays:
    """A case's values as float64, before rounding to a dtype."""

    input: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    pos_weight: np.ndarray | None
    sample_weight: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Case:
    id: str
    """``<file stem>/<case id>``: unique across a run."""
    file: str
    description: str
    form: str
    reductions: tuple[str, ...]
    dtypes: tuple[str, ...] | None
    expect_error: str | None
    published: Published | None
    tags: tuple[str, ...]
    spec: dict[str, Any] = field(repr=False)
    label_smoothing: float = 0.0
    axis: int | None = None
    target_dtype: str | None = None
    """The dtype the target is given in (None: the check's dtype, as every other array)."""

    def arrays(self, fmt: FloatFormat) -> CaseArrays:
        """The case's values for ``fmt`` (names resolved; not yet rounded)."""
        return _materialise(self, fmt.name)


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@cache
def _fast_schema_check() -> Callable[[Any], Any]:
    """The same schema compiled to Python by fastjsonschema: about 40 times faster on a
    file of 100,000 numbers, but its first error only, without the path a message needs.
    A file it accepts is valid (the schema uses only keywords both libraries implement
    alike, which tests/test_case_loader.py checks); one it refuses is validated again by
    jsonschema for the messages."""
    return fastjsonschema.compile(json.loads(SCHEMA_PATH.read_text()))


def _schema_errors(data: Any) -> list[jsonschema.ValidationError]:
    try:
        _fast_schema_check()(data)
    except fastjsonschema.JsonSchemaException:
        return sorted(_schema_validator().iter_errors(data), key=lambda e: list(e.path))
    return []


def case_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories (their ``*.yaml``/``*.yml``) into a sorted file list."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files


def load_cases(
    paths: Iterable[str | Path] = (CASES_DIR,), *, strict: bool = False
) -> tuple[list[Case], list[CaseError]]:
    """All valid cases under ``paths`` and one error per problem found."""
    cases: list[Case] = []
    errors: list[CaseError] = []
    seen: dict[str, str] = {}
    for path in case_files(paths):
        file_cases, file_errors = load_file(path)
        errors.extend(file_errors)
        for case in file_cases:
            if case.id in seen:
                errors.append(
                    CaseError(str(path), case.id, "id", f"duplicate id (also in {seen[case.id]})")
                )
                continue
            seen[case.id] = str(path)
            cases.append(case)
    if strict and errors:
        raise CaseFileError(errors)
    return cases, errors


def load_file(path: Path) -> tuple[list[Case], list[CaseError]]:
    name = str(path)
    try:
        document = case_yaml.read(path)
    except case_yaml.CaseYamlError as exc:
        return [], [CaseError(name, None, None, str(exc), exc.line)]
    data = document.data

    def error(case: str | None, parts: list[Any], message: str) -> CaseError:
        field_name = _field_name(parts[2:] if case else parts)
        return CaseError(name, case, field_name, message, case_yaml.line_of(document.root, parts))

    errors: list[CaseError] = []
    bad_cases: set[int] = set()
    for err in _schema_errors(data):
        err = _deepest(err)
        parts = _with_named_field(list(err.absolute_path), err)
        if len(parts) >= 2 and parts[0] == "cases" and isinstance(parts[1], int):
            index = parts[1]
            if index in bad_cases:
                continue  # one message per case is clearer than a cascade
            bad_cases.add(index)
            errors.append(error(_case_label(data, index), parts, _schema_message(err)))
        else:
            return [], [error(None, parts, _schema_message(err))]

    cases = []
    for index, spec in enumerate(data["cases"]):
        if index in bad_cases:
            continue
        problem = _data_file_problem(spec, path.parent) or _semantic_problem(spec)
        if problem:
            field_path = ["cases", index, *problem[0].split(".")]
            errors.append(error(spec["id"], field_path, problem[1]))
            continue
        cases.append(_build_case(name, path.stem, spec))
    return cases, errors


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a value that matches no branch of a oneOf (a nested list of numbers), the
    sub-error deepest in the document names the exact element; a case-level oneOf (values
    versus generator) is kept as it is."""
    while err.validator == "oneOf" and err.context and len(err.absolute_path) > 2:
        err = max(err.context, key=lambda e: len(e.absolute_path))
    return err


def _case_label(document: Any, index: int) -> str:
    try:
        return str(document["cases"][index]["id"])
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"


def _with_named_field(parts: list[Any], err: jsonschema.ValidationError) -> list[Any]:
    """The error's path, extended by the field it names (an unknown or a missing one)."""
    pattern = {
        "additionalProperties": r"'([^']+)' was unexpected",
        "required": r"'([^']+)' is a required property",
    }.get(str(err.validator))
    named = re.findall(pattern, err.message) if pattern else []
    return [*parts, named[0]] if named else parts


def _field_name(parts: list[Any]) -> str | None:
    if not parts:
        return None
    out = str(parts[0])
    for part in parts[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return "unknown field (not in the case schema)"
    if err.validator == "oneOf" and err.schema_path and "case" in str(list(err.schema_path)):
        return "give either 'input' and 'target' (with optional weight/pos_weight) or 'generate'"
    if err.validator in ("oneOf", "type"):
        return f"wrong type: {err.instance!r} is not {_expected_type(err)}"
    return err.message


def _expected_type(err: jsonschema.ValidationError) -> str:
    if err.validator == "type":
        return f"of type {err.validator_value}"
    return "a number, a string naming a number, or a nested list of them"


def _data_file_problem(spec: dict[str, Any], folder: Path) -> tuple[str, str] | None:
    """Load each ``{npy: path}`` field in place as a float64 array, or say why it cannot be."""
    for name in ARRAY_FIELDS:
        ref = spec.get(name)
        if not isinstance(ref, dict):
            continue
        try:
            spec[name] = _load_npy(folder, ref["npy"])
        except ValueError as exc:
            return f"{name}.npy", str(exc)
    return None


def _load_npy(folder: Path, relative: str) -> np.ndarray:
    """A data file inside ``folder``: .npy, bounded, real numbers, no pickle."""
    if Path(relative).is_absolute():
        raise ValueError(f"{relative!r} is an absolute path; name a file beside the case file")
    base = folder.resolve()
    path = (base / relative).resolve()  # follows links: where the bytes really are
    if not path.is_relative_to(base):
        raise ValueError(f"{relative!r} leads outside the case file's folder {str(base)!r}")
    if path.suffix != ".npy":
        raise ValueError(f"{relative!r}: only .npy data files are read")
    try:
        size = path.stat().st_size
        if size > MAX_DATA_FILE_BYTES:
            raise ValueError(f"{relative!r} is {size:,} bytes, over {MAX_DATA_FILE_BYTES:,}")
        with path.open("rb") as handle:
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(np.lib.format.read_magic(handle))
            if read_header is None:
                raise ValueError(f"{relative!r}: unsupported .npy format version")
            shape, _, dtype = read_header(handle)
            elements = math.prod(shape)
            if elements > MAX_ELEMENTS:
                raise ValueError(f"{relative!r} holds {elements:,} values, over {MAX_ELEMENTS:,}")
            if dtype.kind not in "iuf":
                raise ValueError(f"{relative!r} holds {dtype} values; give real numbers")
            handle.seek(0)
            array = np.load(handle, allow_pickle=False)
    except OSError as exc:
        raise ValueError(f"cannot read {relative!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # not an .npy file, a truncated one, or one of ours above
        raise ValueError(str(exc) if relative in str(exc) else f"{relative!r}: {exc}") from None
    return array.astype(np.float64)


def _non_finite(value: Any, where: str) -> str | None:
    """The dotted path of the first NaN or infinity in a nested mapping, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item, f"{where}.{key}")
            if found:
                return found
    return None


def _semantic_problem(spec: dict[str, Any]) -> tuple[str, str] | None:
    """Checks the schema cannot express: value spellings, shapes, sizes, finite parameters."""
    generated = spec.get("generate", {})
    if spec["form"] == "probs" and ("pos_weight" in spec or "pos_weight" in generated):
        return "pos_weight", "pos_weight applies to the logits form only"
    for section in ("generate", "expect"):
        where = _non_finite(spec.get(section), section)
        if where:
            return where, "NaN or infinity is not allowed here; give a finite number"
    shapes: dict[str, tuple[int, ...]] = {}
    if "generate" in spec:
        gen = spec["generate"]
        for name in ARRAY_FIELDS:
            if name in gen:
                shapes[name] = tuple(gen[name].get("shape", gen["shape"]))
                elements = math.prod(shapes[name])
                if elements > MAX_ELEMENTS:
                    where = f"generate.{name}.shape" if "shape" in gen[name] else "generate.shape"
                    return where, (
                        f"shape {list(shapes[name])} is {elements:,} values, over the limit of "
                        f"{MAX_ELEMENTS:,} per array"
                    )
    else:
        for name in ARRAY_FIELDS:
            if name not in spec:
                continue
            try:
                array = np.array(_parse_nested(spec[name], "float64"), dtype=np.float64)
            except ValueError as exc:
                return name, str(exc)
            shapes[name] = array.shape
    mismatch_expected = spec.get("expect", {}).get("error") == "shape-mismatch"
    if shapes["target"] != shapes["input"] and not mismatch_expected:
        return "target", f"shape {shapes['target']} differs from input shape {shapes['input']}"
    if mismatch_expected and shapes["target"] == shapes["input"]:
        return "expect.error", "shape-mismatch is expected but target and input shapes agree"
    for name in ("weight", "pos_weight"):
        if name in shapes:
            try:
                np.broadcast_shapes(shapes[name], shapes["input"])
                if np.broadcast_shapes(shapes[name], shapes["input"]) != shapes["input"]:
                    raise ValueError
            except ValueError:
                return name, f"shape {shapes[name]} does not broadcast to input {shapes['input']}"
    options = _options_problem(spec, shapes) or _target_dtype_problem(spec)
    if options:
        return options
    published = spec.get("expect", {}).get("published")
    if published and published["reduction"] not in spec.get("reductions", DEFAULT_REDUCTIONS):
        return "expect.published.reduction", "names a reduction the case does not run"
    return None


def _options_problem(
    spec: dict[str, Any], shapes: dict[str, tuple[int, ...]]
) -> tuple[str, str] | None:
    """``axis`` names an axis of the input; ``sample_weight`` fits the per-sample losses."""
    input_shape = shapes["input"]
    sample_shape = input_shape
    if "axis" in spec:
        axis = spec["axis"]
        if not -len(input_shape) <= axis < len(input_shape):
            return "axis", f"axis {axis} is not an axis of input shape {input_shape}"
        axis %= len(input_shape)
        sample_shape = input_shape[:axis] + input_shape[axis + 1 :]
    if "sample_weight" in shapes:
        given = shapes["sample_weight"]
        weight, extra = given[: len(sample_shape)], given[len(sample_shape) :]
        leading = sample_shape[: len(weight)]
        misfit = any(w not in (1, s) for w, s in zip(weight, leading, strict=True))
        if misfit or any(size != 1 for size in extra):  # extra axes of 1: squeezed
            return "sample_weight", (
                f"shape {given} does not fit the per-sample losses of shape {sample_shape}: "
                "it is aligned with their leading axes, each of size 1 or theirs (axes "
                "beyond theirs: size 1)"
            )
    return None


def _target_dtype_problem(spec: dict[str, Any]) -> tuple[str, str] | None:
    """An integer or boolean target holds whole numbers (0 and 1 for bool)."""
    kind = spec.get("target_dtype", "float")
    if kind.startswith(("float", "bfloat")):
        return None
    if "target" not in spec:  # generated
        if spec["generate"]["target"]["distribution"] != "bernoulli":
            return "generate.target", f"a {kind} target is drawn from bernoulli (0 and 1)"
        return None
    values = np.array(_parse_nested(spec["target"], "float64"), dtype=np.float64)
    allowed = (0.0, 1.0) if kind == "bool" else None
    whole = np.isfinite(values) & (values == np.round(values))
    if not whole.all() or (allowed and not np.isin(values, allowed).all()):
        need = "0 or 1" if kind == "bool" else "whole numbers"
        return "target", f"a {kind} target holds {need}; got {values.reshape(-1).tolist()[:8]}"
    return None


def _build_case(file: str, stem: str, spec: dict[str, Any]) -> Case:
    expect = spec.get("expect", {})
    published = expect.get("published")
    return Case(
        id=f"{stem}/{spec['id']}",
        file=file,
        description=spec["description"],
        form=spec["form"],
        reductions=tuple(spec.get("reductions", DEFAULT_REDUCTIONS)),
        dtypes=tuple(spec["dtypes"]) if "dtypes" in spec else None,
        expect_error=expect.get("error"),
        published=Published(**published) if published else None,
        tags=tuple(spec.get("tags", ())),
        spec=spec,
        label_smoothing=float(spec.get("label_smoothing", 0.0)),
        axis=spec.get("axis"),
        target_dtype=spec.get("target_dtype"),
    )


def parse_value(raw: float | int | str, dtype: str) -> float:
    """One scalar of a case file as float64; names are resolved for ``dtype``."""
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is a boolean, not a number")
    if isinstance(raw, int | float):
        return float(raw)
    text = raw.strip()
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if body in _NAMED:
        info = float_format(dtype).info()
        value = {
            "smallest_subnormal": float(info.smallest_subnormal),
            "smallest_normal": float(info.smallest_normal),
            "largest_below_one": 1.0 - float(info.epsneg),
            "max": float(info.max),
        }[body]
        return -value if negative else value
    if body.lower() in ("nan", "inf", "infinity"):
        return -float(body) if negative else float(body)
    if _FLOAT_RE.match(text):
        return float(text)
    if body.lower().startswith("0x"):
        try:
            return float.fromhex(text)
        except ValueError:
            pass
    raise ValueError(
        f"{raw!r} is not a number; use a decimal or hex float, nan, inf, or one of "
        f"{', '.join(_NAMED)}"
    )


def _parse_nested(raw: Any, dtype: str) -> Any:
    if isinstance(raw, np.ndarray):  # from a data file, already float64
        return raw
    if isinstance(raw, list):
        return [_parse_nested(item, dtype) for item in raw]
    return parse_value(raw, dtype)


def _draw(spec: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    shape = tuple(spec.get("shape", shape))
    kind = spec["distribution"]
    if kind == "uniform":
        return rng.uniform(spec.get("low", 0.0), spec.get("high", 1.0), size=shape)
    if kind == "normal":
        return rng.normal(spec.get("mean", 0.0), spec.get("std", 1.0), size=shape)
    if kind == "bernoulli":
        return (rng.random(size=shape) < spec.get("p", 0.5)).astype(np.float64)
    return np.full(shape, float(spec.get("value", 0.0)))


@cache
def _materialise(case: Case, dtype: str) -> CaseArrays:
    spec = case.spec
    if "generate" in spec:
        gen = spec["generate"]
        shape = tuple(gen["shape"])
        arrays = {}
        for stream, name in enumerate(ARRAY_FIELDS):
            if name in gen:  # one independent stream per field: adding a field changes no other
                rng = np.random.default_rng([gen["seed"], stream])
                arrays[name] = _draw(gen[name], shape, rng)
    else:
        arrays = {
            name: np.array(_parse_nested(spec[name], dtype), dtype=np.float64)
            for name in ARRAY_FIELDS
            if name in spec
        }
    for value in arrays.values():
        value.setflags(write=False)
    return CaseArrays(
        input=arrays["input"],
        target=arrays["target"],
        weight=arrays.get("weight"),
        pos_weight=arrays.get("pos_weight"),
        sample_weight=arrays.get("sample_weight"),
    )
