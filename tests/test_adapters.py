"""Adapter discovery: lazy imports, missing or broken frameworks, module:object specs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from adapters.base import Adapter
from adapters.compiled import CompiledMixin
from adapters.registry import AdapterSpecError, builtin_adapters, discover, load_spec, select
from conformance.engine.cases import load_cases
from conformance.engine.matrix import Runner, expand
from conformance.vocabulary import Verdict

EXPECTED = {
    "torch.nn.BCELoss",
    "torch.nn.functional.binary_cross_entropy",
    "torch.nn.BCEWithLogitsLoss",
    "torch.nn.functional.binary_cross_entropy_with_logits",
    "keras.losses.BinaryCrossentropy",
    "keras.losses.BinaryCrossentropy.from_logits",
    "keras.metrics.BinaryCrossentropy",
    "keras.metrics.BinaryCrossentropy.from_logits",
    "tf.nn.sigmoid_cross_entropy_with_logits",
    "tf.nn.weighted_cross_entropy_with_logits",
    "optax.sigmoid_binary_cross_entropy",
    "jax.numpy.textbook",
    "numpy.textbook",
    "numpy.stable",
    "torch.compile(F.binary_cross_entropy)",
    "torch.compile(F.binary_cross_entropy_with_logits)",
    "jax.jit(optax.sigmoid_binary_cross_entropy)",
    "tf.function(jit_compile=True)(tf.nn.sigmoid_cross_entropy_with_logits)",
    # pipelines: a sigmoid, then BCE on probabilities (adapters/pipelines.py)
    "torch.sigmoid+F.binary_cross_entropy",
    "F.sigmoid+F.binary_cross_entropy",
    "nn.Sequential(nn.Sigmoid())+nn.BCELoss",
    "torch.compile(torch.sigmoid+F.binary_cross_entropy)",
    "keras.activations.sigmoid+BinaryCrossentropy",
    "tf.function(keras.activations.sigmoid+BinaryCrossentropy)",
    "tf.function(jit_compile=True)(keras.activations.sigmoid+BinaryCrossentropy)",
    # TensorFlow's other sigmoid spellings: tf.nn.sigmoid (tf.math.sigmoid is the same
    # function), eagerly, in tf.function and under XLA; Keras layers ending a model
    "tf.nn.sigmoid+BinaryCrossentropy",
    "tf.function(tf.nn.sigmoid+BinaryCrossentropy)",
    "tf.function(jit_compile=True)(tf.nn.sigmoid+BinaryCrossentropy)",
    "Dense(activation='sigmoid')+BinaryCrossentropy",
    "tf.function(Dense(activation='sigmoid')+BinaryCrossentropy)",
    "layers.Activation('sigmoid')+BinaryCrossentropy",
    "keras.Model(sigmoid).compile(BinaryCrossentropy).evaluate",
    "jax.nn.sigmoid+jax.numpy.textbook",
    "jax.jit(jax.nn.sigmoid+jax.numpy.textbook)",
    "jax.scipy.special.expit+jax.numpy.textbook",
    "jax.jit(jax.scipy.special.expit+jax.numpy.textbook)",
} | {
    f"keras.ops.binary_crossentropy{form}@{backend}"
    for backend in ("jax", "torch", "tensorflow", "numpy")
    for form in ("", ".from_logits")
}


def test_every_documented_api_has_an_adapter():
    assert {a.name for a in builtin_adapters()} == EXPECTED


def test_discovery_imports_no_framework():
    code = textwrap.dedent(
        """
        import sys
        from conformance.engine.matrix import build_plan
        plan = build_plan()
        assert plan.checks and not plan.case_errors
        loaded = {"torch", "tensorflow", "jax", "optax", "keras"} & set(sys.modules)
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _Missing(Adapter):
    name = "test.missing"
    framework = "surely_not_an_installed_framework"
    forms = frozenset({"probs"})


class _BrokenImport(Adapter):
    name = "test.broken"
    framework = "numpy"
    forms = frozenset({"probs"})

    def devices(self) -> list[str]:
        raise ImportError("libcuda.so.1: cannot open shared object file")


@pytest.mark.parametrize(
    ("adapter", "reason"),
    [(_Missing(), "not installed: pip install"), (_BrokenImport(), "failed to import")],
)
def test_unusable_framework_is_a_skip_with_reason(adapter, reason):
    cases, _ = load_cases()
    check = expand(cases[:1], [adapter], ["float32"], ["cpu"])[0]
    result = Runner().run(check)
    assert result.verdict is Verdict.SKIP
    assert reason in result.judgement.detail


def test_missing_gpu_is_a_skip_with_reason():
    numpy_adapter = next(a for a in builtin_adapters() if a.name == "numpy.stable")
    cases, _ = load_cases()
    check = expand(cases[:1], [numpy_adapter], ["float32"], ["gpu"])[0]
    result = Runner().run(check)
    assert result.verdict is Verdict.SKIP and "no gpu device" in result.judgement.detail


def test_unsupported_option_is_a_skip_not_an_emulation():
    optax = next(a for a in builtin_adapters() if a.name == "optax.sigmoid_binary_cross_entropy")
    cases, _ = load_cases()
    case = next(c for c in cases if c.id == "weights/per-element-logits")
    result = Runner().run(expand([case], [optax], ["float32"], ["cpu"])[0])
    assert result.verdict is Verdict.SKIP
    assert "no per-element weight argument" in result.judgement.detail


def test_module_object_specs(tmp_path, monkeypatch):
    (tmp_path / "my_bce.py").write_text(
        textwrap.dedent(
            """
            from adapters.numpy_bce import NumpyStable

            class Mine(NumpyStable):
                name = "mine.stable"

            ADAPTERS = [Mine()]
            def factory():
                return Mine()
            NOT_AN_ADAPTER = 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [a.name for a in load_spec("my_bce:ADAPTERS")] == ["mine.stable"]
    assert [a.name for a in load_spec("my_bce:factory")] == ["mine.stable"]
    with pytest.raises(AdapterSpecError, match="not an Adapter"):
        load_spec("my_bce:NOT_AN_ADAPTER")
    with pytest.raises(AdapterSpecError, match="no attribute"):
        load_spec("my_bce:nothing")
    with pytest.raises(AdapterSpecError, match="cannot import"):
        load_spec("no_such_module_xyz:thing")
    with pytest.raises(AdapterSpecError, match="expected 'module:object'"):
        load_spec("my_bce")
    discovery = discover(["my_bce:ADAPTERS"])
    assert "mine.stable" in {a.name for a in discovery.adapters}
    assert discovery.sources["mine.stable"] == "--adapter my_bce:ADAPTERS"
    assert discovery.sources["numpy.stable"] == "built-in adapters.numpy_bce"


def test_duplicate_names_warn_and_keep_the_first(tmp_path, monkeypatch):
    (tmp_path / "dup_bce.py").write_text(
        "from adapters.numpy_bce import NumpyStable\nADAPTERS = [NumpyStable()]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    message = (
        r"'numpy.stable' from --adapter dup_bce:ADAPTERS is already provided by "
        r"built-in adapters.numpy_bce"
    )
    with pytest.warns(UserWarning, match=message):
        discovery = discover(["dup_bce:ADAPTERS"])
    assert sum(a.name == "numpy.stable" for a in discovery.adapters) == 1


def test_select_names_the_known_adapters_when_nothing_matches():
    with pytest.raises(AdapterSpecError, match=r"known: .*numpy\.stable"):
        select(builtin_adapters(), ["nonsense*"])
    assert [a.name for a in select(builtin_adapters(), ["numpy.*"])] == [
        "numpy.textbook",
        "numpy.stable",
    ]


def test_adapters_return_float64_values():
    numpy_adapter = next(a for a in builtin_adapters() if a.name == "numpy.stable")
    cases, _ = load_cases()
    check = expand(cases[:1], [numpy_adapter], ["float32"], ["cpu"])[0]
    from conformance.engine.matrix import build_call

    call, _ = build_call(check)
    outcome = numpy_adapter.run(call)
    assert outcome.error is None and outcome.value.dtype == np.float64


def test_keras_backend_workers_answer_with_the_backends_own_results():
    """Each Keras 3 backend runs in its own process; a call goes there and back."""
    pytest.importorskip("keras")
    from adapters.keras_backends import ADAPTERS as KERAS

    numpy_probs = next(a for a in KERAS if a.name == "keras.ops.binary_crossentropy@numpy")
    from adapters.calls import Call

    f32 = np.float32
    call = Call("probs", np.array([0.25], f32), np.array([1.0], f32), None, None, "none",
                "float32", "cpu")  # fmt: skip
    outcome = numpy_probs.run(call)
    assert outcome.error is None and outcome.value[0] == float(f32(np.log(4)))
    bad = Call("probs", np.array([0.25, 0.5], f32), np.array([1.0], f32), None, None, "none",
               "float32", "cpu")  # fmt: skip
    assert numpy_probs.run(bad).error is not None  # the backend's own error comes back
    f64 = np.float64
    call64 = Call("probs", np.array([0.3], f64), np.array([1.0], f64), None, None, "none",
                  "float64", "cpu")  # fmt: skip
    # float64 stays float64: without an explicit dtype Keras would convert it to float32
    assert numpy_probs.run(call64).value[0] == -np.log(0.3)


def test_every_compiled_mode_names_the_eager_adapter_it_compiles():
    """Mode disagreements compare a traced or compiled adapter with its eager one."""
    adapters = {a.name: a for a in builtin_adapters()}
    compiled = [a for a in adapters.values() if isinstance(a, CompiledMixin)]
    assert len(compiled) >= 10
    for adapter in compiled:
        eager = adapters.get(adapter.same_code_as)
        assert eager is not None and not isinstance(eager, CompiledMixin), adapter.name
        assert eager.forms == adapter.forms, adapter.name
