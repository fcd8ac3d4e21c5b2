"""Pipelines as users write them: a sigmoid, then BCE on the probabilities.

Tutorials and models rarely call BCE on numbers they made by hand: a network ends in a
sigmoid and its output goes to the probability loss. Each adapter here takes logits and
runs that pipeline in one framework's idiom, eager and compiled:

- PyTorch: ``F.binary_cross_entropy(torch.sigmoid(x), y)``,
  ``nn.BCELoss()(nn.Sequential(nn.Sigmoid())(x), y)`` and ``torch.compile`` of the first.
- Keras/TensorFlow: ``BinaryCrossentropy()(y, keras.activations.sigmoid(x))`` eager, in
  ``tf.function`` and in ``tf.function(jit_compile=True)`` (XLA), and a model ending in a
  sigmoid layer through ``model.compile(loss=...)`` and ``model.evaluate``. Keras does not round
  the sigmoid here by design: ``keras.activations.sigmoid`` tags its output with its logits
  and the TensorFlow backend's ``binary_crossentropy`` computes from those, "to prevent
  collapsing zero when training" (``_get_logits``); its reference is therefore the fused
  ``sigmoid_cross_entropy_with_logits`` it calls (measured: x = 88, y = 1 in float32 gives
  the with-logits 0, flushed from 6e-39, not the clipped pipeline's 1.2e-7).
- JAX: ``-(y log s + (1 - y) log(1 - s))`` with ``s = jax.nn.sigmoid(x)``, eager and under
  ``jax.jit`` (``optax.sigmoid_binary_cross_entropy`` is the fused loss it is compared with).

Their reference is the mathematics of the pipeline in the check's dtype (the convention
``logits-through-sigmoid``): p = sigmoid(x) rounded to the dtype, then BCE with the
probability API's own conventions (PyTorch's log floor of -100, Keras's clip to
[1e-7, 1 - 1e-7]); its gradient is the chain rule through p (1 - p) on that rounded p. Every
framework documents the pipeline as less stable than its fused loss (the ``nn.BCELoss`` docs:
"This version is more numerically stable than using a plain Sigmoid followed by a BCELoss";
Keras: "using from_logits=True may be more numerically stable"), so a value the fused loss
would get right and the pipeline cannot is a ``convention``, with that evidence; a value
wrong even for the pipeline is a ``fail``. Because each compiled pipeline is held to the
same reference as its eager twin, eager and compiled runs of one pipeline agree within that
reference's tolerance or one of them is reported. The frameworks' sigmoids are not
correctly rounded: ``tolerances.SIGMOID_ULPS`` says how much of that is admitted and why.

Pipelines take no ``pos_weight``: BCE on probabilities has none. Known bugs of the loss a
pipeline calls are registered for the pipeline too (``conformance/known_bugs.yaml``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from adapters import formulas
from adapters.base import Conventions
from adapters.calls import Call, Prepared
from adapters.compiled import CompiledMixin
from adapters.jax_bce import XLA_FTZ, JaxAdapter, JitMixin, import_jax
from adapters.tensorflow_bce import (
    KERAS_DOMAIN,
    KERAS_NN,
    KERAS_PROBS_CONVENTIONS,
    KERAS_REDUCTION,
    TF_LOGITS_CONVENTIONS,
    TensorflowAdapter,
    import_tensorflow,
    keras_backend_problem,
    tf_device,
    tf_results,
    tf_synchronizer,
    watched_name,
)
from adapters.torch_bce import (
    COMPILED_PROBS_CONVENTIONS,
    PROBS_CONVENTIONS,
    TorchAdapter,
    torch_compile,
)

_BCELOSS_DOC = (
    "https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html ('more "
    "numerically stable than using a plain Sigmoid followed by a BCELoss')"
)
_KERAS_RECOVERS_LOGITS = (
    "https://github.com/keras-team/keras/blob/master/keras/src/backend/tensorflow/nn.py "
    "_get_logits: an output made by keras.activations.sigmoid carries its logits "
    "(_keras_logits) and binary_crossentropy computes from them 'in order to prevent "
    "collapsing zero when training'"
)
_SIGMOID_GRAD = (
    "https://github.com/pytorch/pytorch/blob/main/tools/autograd/derivatives.yaml sigmoid: "
    "sigmoid_backward(grad, result); tensorflow/python/ops/math_grad.py _SigmoidGrad; "
    "jax/_src/lax/special.py logistic: ans * (1 - ans)"
)


def _spelled(path: str) -> Callable[[Any], Any]:
    """The function a dotted path names ("torch.nn.functional.sigmoid"), its module imported."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def through_sigmoid(conventions: Conventions, doc: str) -> Conventions:
    """A probability API's conventions, reached through a sigmoid in the dtype: the
    sigmoid's output is always in [0, 1], so no probability range check can fire."""
    return replace(
        conventions,
        logits_through_probabilities=True,
        checks_probability_range=False,
        sources=(doc, _SIGMOID_GRAD, *conventions.sources),
    )


# -- PyTorch -------------------------------------------------------------------------------


class _TorchPipeline(TorchAdapter):
    forms = frozenset({"logits"})
    conventions = through_sigmoid(PROBS_CONVENTIONS, _BCELOSS_DOC)
    sigmoid = "torch.sigmoid"
    """The sigmoid as the user spells it (an attribute path from ``torch``)."""

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        options.pop("pos_weight")
        bce = partial(torch.nn.functional.binary_cross_entropy, **options)
        sigmoid = _spelled(self.sigmoid)
        return lambda x, y: bce(sigmoid(x), y)

    def _expression(self, call: Call) -> str:
        options = self._options(call, False)
        return f"torch.nn.functional.binary_cross_entropy({self.sigmoid}(x_t), y_t, {options})"


class TorchSigmoidThenBinaryCrossEntropy(_TorchPipeline):
    name = "torch.sigmoid+F.binary_cross_entropy"
    api = "torch.nn.functional.binary_cross_entropy(torch.sigmoid(x), y, weight=w, reduction=r)"


class TorchFunctionalSigmoidThenBinaryCrossEntropy(_TorchPipeline):
    """``torch.nn.functional.sigmoid``, the spelling of tutorials that import F: a Python
    function of its own (not ``torch.sigmoid``'s object) that calls ``Tensor.sigmoid``."""

    name = "F.sigmoid+F.binary_cross_entropy"
    api = "F.binary_cross_entropy(F.sigmoid(x), y, weight=w, reduction=r)"
    sigmoid = "torch.nn.functional.sigmoid"
    extended = True  # the kernel of torch.sigmoid+F.binary_cross_entropy; full profile


class TorchSequentialSigmoidBCELoss(_TorchPipeline):
    name = "nn.Sequential(nn.Sigmoid())+nn.BCELoss"
    api = "torch.nn.BCELoss(weight=w, reduction=r)(torch.nn.Sequential(torch.nn.Sigmoid())(x), y)"

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        options.pop("pos_weight")
        model, loss = torch.nn.Sequential(torch.nn.Sigmoid()), torch.nn.BCELoss(**options)
        return lambda x, y: loss(model(x), y)

    def _expression(self, call: Call) -> str:
        options = self._options(call, False)
        model = "torch.nn.Sequential(torch.nn.Sigmoid())"
        return f"torch.nn.BCELoss({options})({model}(x_t), y_t)"


def _sigmoid_then_bce(x: Any, y: Any, **options: Any) -> Any:
    """The pipeline torch.compile compiles (a module-level function: one graph cache)."""
    import torch

    return torch.nn.functional.binary_cross_entropy(torch.sigmoid(x), y, **options)


class TorchCompiledSigmoidThenBinaryCrossEntropy(CompiledMixin, _TorchPipeline):
    """torch.compile (inductor) of the pipeline, at float32 like the compiled losses: the
    sigmoid and the BCE fuse into one kernel, so the p it rounds may differ from eager's."""

    name = "torch.compile(torch.sigmoid+F.binary_cross_entropy)"
    eager_adapter = "torch.sigmoid+F.binary_cross_entropy"
    api = "torch.compile(lambda x, y: F.binary_cross_entropy(torch.sigmoid(x), y, ...))(x, y)"
    conventions = through_sigmoid(COMPILED_PROBS_CONVENTIONS, _BCELOSS_DOC)
    eager_conventions = _TorchPipeline.conventions  # held to eager's target range check
    track_grad = True  # one graph per signature, as compiled training runs it

    def dtypes(self) -> list[str]:
        return ["float32"]

    def _loss(self, torch: Any, **options: Any) -> Callable[[Any, Any], Any]:
        options.pop("pos_weight")
        compiled = self.compiled("pipeline", lambda: torch_compile(torch, _sigmoid_then_bce))
        return partial(compiled, **options)

    def _expression(self, call: Call) -> str:
        options = self._options(call, False)
        pipeline = "lambda x, y, **o: F.binary_cross_entropy(torch.sigmoid(x), y, **o)"
        return f"torch.compile({pipeline}, dynamic=True)(x_t, y_t, {options})"


# -- Keras / TensorFlow --------------------------------------------------------------------


class KerasSigmoidThenBinaryCrossentropy(TensorflowAdapter):
    """Keras's BinaryCrossentropy on keras.activations.sigmoid(x), run eagerly; the
    subclasses trace it with tf.function. The targets and weights are arguments of the
    pipeline, not constants baked into it, so one trace serves every check of a signature."""

    name = "keras.activations.sigmoid+BinaryCrossentropy"
    api = "tf.keras.losses.BinaryCrossentropy(reduction=r)(y, tf.keras.activations.sigmoid(x))"
    forms = frozenset({"logits"})
    conventions = replace(
        TF_LOGITS_CONVENTIONS,
        documented_domain=KERAS_DOMAIN,
        sources=(_KERAS_RECOVERS_LOGITS, *TF_LOGITS_CONVENTIONS.sources),
    )
    decorator: str = ""
    """How the pipeline is traced, as the user writes it above its def ("": eagerly)."""
    sigmoid_source: str = "tf.keras.activations.sigmoid"
    """The sigmoid as the user writes it: called on the logits in the reproducer."""

    def device_unavailable(self, device: str) -> str | None:
        return keras_backend_problem(import_tensorflow()) or super().device_unavailable(device)

    def prepare(self, call: Call) -> Prepared:
        tf = import_tensorflow()
        device = tf_device(call)
        with tf.device(device):
            x, y = tf.constant(call.input), tf.constant(call.target)
            weight = None
            if call.weight is not None:  # Keras aligns sample_weight with leading axes
                weight = tf.constant(np.broadcast_to(call.weight, call.input.shape))
        pipeline = self._pipeline(tf, call)
        wrt = y if call.wrt == "target" else x
        synchronize = tf_synchronizer(tf, call)

        def execute() -> tuple[Any, Any]:
            with tf.device(device):
                with tf.GradientTape() as tape:
                    tape.watch(wrt)
                    loss = pipeline(x, y, weight)
                grad = tape.gradient(loss, wrt) if call.grad else None
            synchronize()
            return loss, grad

        return Prepared(execute, lambda done: tf_results(tf, *done))

    def _pipeline(self, tf: Any, call: Call) -> Callable[[Any, Any, Any], Any]:
        bce = tf.keras.losses.BinaryCrossentropy(
            reduction=KERAS_REDUCTION[call.reduction], dtype=call.dtype
        )
        sigmoid = self._sigmoid(tf, call)

        def pipeline(x: Any, y: Any, weight: Any) -> Any:
            p = sigmoid(tf.expand_dims(x, -1))
            return bce(tf.expand_dims(y, -1), p, sample_weight=weight)

        return pipeline

    def _sigmoid(self, tf: Any, call: Call) -> Callable[[Any], Any]:
        """The sigmoid, built here (a layer's weights too), outside what is timed."""
        return tf.keras.activations.sigmoid

    def _imports(self) -> list[str]:
        pin = 'os.environ["KERAS_BACKEND"] = "tensorflow"  # tf.keras is Keras 3'
        return ["import os", "", pin, "import tensorflow as tf"]

    def _body(self, call: Call) -> list[str]:
        options = f"reduction={KERAS_REDUCTION[call.reduction]!r}, dtype={call.dtype!r}"
        watched = watched_name(call)
        weight = ", sample_weight=w_t" if call.weight is not None else ""
        lines = ["    w_t = tensor(np.broadcast_to(w, x.shape))"] if call.weight is not None else []
        lines += [
            f"    bce = tf.keras.losses.BinaryCrossentropy({options})",
            f"    sigmoid = {self.sigmoid_source.format(dtype=repr(call.dtype))}",
            *([f"    @{self.decorator}"] if self.decorator else []),
            "    def pipeline(x_t):",
            "        p_t = sigmoid(tf.expand_dims(x_t, -1))",
            f"        return bce(y_t[..., tf.newaxis], p_t{weight})",
            "",
            "    with tf.GradientTape() as tape:",
            f"        tape.watch({watched})",
            "        loss_t = pipeline(x_t)",
        ]
        return lines + ([f"    grad_t = tape.gradient(loss_t, {watched})"] if call.grad else [])


class TfFunctionSigmoidThenBinaryCrossentropy(CompiledMixin, KerasSigmoidThenBinaryCrossentropy):
    """The pipeline traced by tf.function: one trace per (reduction, dtype, shapes)."""

    name = "tf.function(keras.activations.sigmoid+BinaryCrossentropy)"
    eager_adapter = "keras.activations.sigmoid+BinaryCrossentropy"
    api = "tf.function(lambda x, y: BinaryCrossentropy()(y, keras.activations.sigmoid(x)))"
    decorator = "tf.function"

    def _pipeline(self, tf: Any, call: Call) -> Callable[[Any, Any, Any], Any]:
        eager = super()._pipeline
        return self.compiled(
            (call.reduction, call.dtype),
            lambda: tf.function(eager(tf, call), jit_compile="jit_compile" in self.decorator),
        )


class XlaSigmoidThenBinaryCrossentropy(TfFunctionSigmoidThenBinaryCrossentropy):
    """The pipeline traced by tf.function(jit_compile=True): XLA fuses sigmoid and loss."""

    name = "tf.function(jit_compile=True)(keras.activations.sigmoid+BinaryCrossentropy)"
    eager_adapter = "keras.activations.sigmoid+BinaryCrossentropy"
    api = "tf.function(jit_compile=True)(lambda x, y: BinaryCrossentropy()(y, sigmoid(x)))"
    decorator = "tf.function(jit_compile=True)"


_TF_SIGMOID_SPELLINGS = (
    f"{KERAS_NN} _get_logits: logits are recovered from an output that carries them "
    "(keras.activations.sigmoid, and so layers.Activation('sigmoid') and Dense(activation="
    "'sigmoid')) or, in a graph (tf.function), from a Sigmoid op ('in order to prevent "
    "collapsing zero when training'); an eager tf.nn.sigmoid output is a plain EagerTensor, "
    "so the probability formula and its clip apply. tf.math.sigmoid is tf.nn.sigmoid."
)


_LOGITS_RECOVERED = replace(
    KerasSigmoidThenBinaryCrossentropy.conventions,
    sources=(_TF_SIGMOID_SPELLINGS, *TF_LOGITS_CONVENTIONS.sources),
)
"""A spelling whose output gives Keras the logits back: the logits op's conventions."""


class _TfNnSigmoid:
    """``tf.nn.sigmoid`` as the pipeline's sigmoid (``tf.math.sigmoid`` is the same function)."""

    sigmoid_source = "tf.nn.sigmoid"

    def _sigmoid(self, tf: Any, call: Call) -> Callable[[Any], Any]:
        return tf.nn.sigmoid  # type: ignore[no-any-return]


class TfNnSigmoidThenBinaryCrossentropy(_TfNnSigmoid, KerasSigmoidThenBinaryCrossentropy):
    """``BinaryCrossentropy()(y, tf.nn.sigmoid(x))`` run eagerly, the commonest TensorFlow
    idiom: no logits reach the loss, so it is BCE on the rounded probability with Keras's
    clip."""

    name = "tf.nn.sigmoid+BinaryCrossentropy"
    api = "tf.keras.losses.BinaryCrossentropy(reduction=r)(y, tf.nn.sigmoid(x))"
    extended = True
    conventions = through_sigmoid(KERAS_PROBS_CONVENTIONS, _TF_SIGMOID_SPELLINGS)


class TfFunctionTfNnSigmoidThenBinaryCrossentropy(
    _TfNnSigmoid, TfFunctionSigmoidThenBinaryCrossentropy
):
    """The same code in tf.function: the graph's Sigmoid op gives Keras the logits back."""

    name = "tf.function(tf.nn.sigmoid+BinaryCrossentropy)"
    eager_adapter = "tf.nn.sigmoid+BinaryCrossentropy"
    api = "tf.function(lambda x, y: BinaryCrossentropy()(y, tf.nn.sigmoid(x)))"
    extended = True
    conventions = _LOGITS_RECOVERED


class XlaTfNnSigmoidThenBinaryCrossentropy(TfFunctionTfNnSigmoidThenBinaryCrossentropy):
    name = "tf.function(jit_compile=True)(tf.nn.sigmoid+BinaryCrossentropy)"
    eager_adapter = "tf.nn.sigmoid+BinaryCrossentropy"
    api = "tf.function(jit_compile=True)(lambda x, y: BinaryCrossentropy()(y, tf.nn.sigmoid(x)))"
    decorator = "tf.function(jit_compile=True)"


class _KerasLayerSigmoid:
    """A Keras layer as the model's last: built once per dtype, outside what is timed."""

    def _sigmoid(self, tf: Any, call: Call) -> Callable[[Any], Any]:
        layers: dict[str, Any] = self.__dict__.setdefault("_layers", {})
        if call.dtype not in layers:
            layer = self._layer(tf.keras, call.dtype)
            layer.build((None, 1))
            layers[call.dtype] = layer
        return layers[call.dtype]  # type: ignore[no-any-return]

    def _layer(self, keras: Any, dtype: str) -> Any:
        raise NotImplementedError


class _DenseLayer(_KerasLayerSigmoid):
    """``Dense(1, activation="sigmoid")`` with weight 1 and bias 0 (its output is sigmoid(x)
    exactly as a trained model's last layer computes it). Its input is at least (batch,
    features): a scalar logit is no model's output."""

    api: str
    sigmoid_source = (
        "tf.keras.layers.Dense(1, activation='sigmoid', kernel_initializer='ones', dtype={dtype})"
    )

    def _layer(self, keras: Any, dtype: str) -> Any:
        return keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones", dtype=dtype)

    def unsupported(self, call: Call) -> str | None:
        if call.input.ndim == 0:
            return f"{self.api}: Dense requires an input of rank 2 or more (x[..., None])"
        return super().unsupported(call)  # type: ignore[misc, no-any-return]


class DenseSigmoidThenBinaryCrossentropy(_DenseLayer, KerasSigmoidThenBinaryCrossentropy):
    """A last Dense layer with a sigmoid activation, then the loss, eagerly."""

    name = "Dense(activation='sigmoid')+BinaryCrossentropy"
    api = (
        "tf.keras.losses.BinaryCrossentropy(reduction=r)(y, keras.layers.Dense(1, "
        "activation='sigmoid', kernel_initializer='ones')(x[..., None]))"
    )
    extended = True
    conventions = _LOGITS_RECOVERED


class TfFunctionDenseSigmoidThenBinaryCrossentropy(
    _DenseLayer, TfFunctionSigmoidThenBinaryCrossentropy
):
    name = "tf.function(Dense(activation='sigmoid')+BinaryCrossentropy)"
    eager_adapter = "Dense(activation='sigmoid')+BinaryCrossentropy"
    api = "tf.function(lambda x, y: BinaryCrossentropy()(y, Dense(1, activation='sigmoid')(x)))"
    extended = True
    conventions = _LOGITS_RECOVERED


class ActivationLayerSigmoidThenBinaryCrossentropy(
    _KerasLayerSigmoid, KerasSigmoidThenBinaryCrossentropy
):
    name = "layers.Activation('sigmoid')+BinaryCrossentropy"
    api = "tf.keras.losses.BinaryCrossentropy(reduction=r)(y, layers.Activation('sigmoid')(x))"
    sigmoid_source = "tf.keras.layers.Activation('sigmoid', dtype={dtype})"
    extended = True
    conventions = _LOGITS_RECOVERED

    def _layer(self, keras: Any, dtype: str) -> Any:
        return keras.layers.Activation("sigmoid", dtype=dtype)


class KerasModelEvaluate(TensorflowAdapter):
    """A Keras model ending in a sigmoid, compiled with BinaryCrossentropy and evaluated:
    ``model.evaluate`` runs Keras's test step (``model.compile``'s default
    ``jit_compile="auto"``, which resolves to no XLA for this model on the CPU) and reports
    the loss through its loss tracker. One model per dtype and reduction; the logits are the
    model's input, one per sample, so each element is one sample's loss. Values only (no
    gradient comes out of ``evaluate``), and only reduced losses (it reports one number)."""

    name = "keras.Model(sigmoid).compile(BinaryCrossentropy).evaluate"
    api = (
        "model = keras.Sequential([keras.Input((1,)), keras.layers.Activation('sigmoid')]); "
        "model.compile(loss=BinaryCrossentropy(reduction=r)); model.evaluate(x, y)"
    )
    forms = frozenset({"logits"})
    supports_grad = False
    supports_target_grad = False
    reductions = frozenset({"mean", "sum"})
    extended = True
    conventions = KerasSigmoidThenBinaryCrossentropy.conventions

    def device_unavailable(self, device: str) -> str | None:
        return keras_backend_problem(import_tensorflow()) or super().device_unavailable(device)

    def unsupported(self, call: Call) -> str | None:
        if call.input.shape != call.target.shape:
            return "a model's samples pair each logit with one target: shapes must be equal"
        return super().unsupported(call)

    def prepare(self, call: Call) -> Prepared:
        tf = import_tensorflow()
        models: dict[tuple[str, str], Any] = self.__dict__.setdefault("_models", {})
        key = (call.dtype, call.reduction)
        if key not in models:
            models[key] = self._model(tf.keras, call)
        model = models[key]
        x, y = call.input.reshape(-1, 1), call.target.reshape(-1, 1)
        weight = None
        if call.weight is not None:
            weight = np.broadcast_to(call.weight, call.input.shape).reshape(-1)

        def execute() -> float:
            return model.evaluate(x, y, sample_weight=weight, batch_size=max(len(x), 1), verbose=0)

        # a Python float (or the [] evaluate gives for no data): it carries no dtype
        return Prepared(execute, lambda loss: loss, converts_inputs=True)

    @staticmethod
    def _model(keras: Any, call: Call) -> Any:
        model = keras.Sequential(
            [
                keras.Input(shape=(1,), dtype=call.dtype),
                keras.layers.Activation("sigmoid", dtype=call.dtype),
            ]
        )
        reduction = KERAS_REDUCTION[call.reduction]
        model.compile(loss=keras.losses.BinaryCrossentropy(reduction=reduction, dtype=call.dtype))
        return model

    def reproducer(self, call: Call) -> str | None:
        weight = (
            ", sample_weight=np.broadcast_to(w, x.shape).reshape(-1)"
            if call.weight is not None
            else ""
        )
        reduction = KERAS_REDUCTION[call.reduction]
        return "\n".join(
            [
                "import os",
                "",
                'os.environ["KERAS_BACKEND"] = "tensorflow"',
                "import keras",
                "",
                "model = keras.Sequential([",
                f"    keras.Input(shape=(1,), dtype={call.dtype!r}),",
                f"    keras.layers.Activation('sigmoid', dtype={call.dtype!r}),",
                "])",
                f"model.compile(loss=keras.losses.BinaryCrossentropy(reduction={reduction!r}, "
                f"dtype={call.dtype!r}))",
                f"xs, ys = x.reshape(-1, 1).astype({call.dtype!r}), y.reshape(-1, 1).astype("
                f"{call.dtype!r})",
                f"loss = np.float64(model.evaluate(xs, ys{weight}, batch_size=max(len(xs), 1), "
                "verbose=0))",
            ]
        )


# -- JAX -----------------------------------------------------------------------------------


class JaxSigmoidThenTextbook(JaxAdapter):
    name = "jax.nn.sigmoid+jax.numpy.textbook"
    api = "s = jax.nn.sigmoid(x); -(y*jnp.log(s) + (1-y)*jnp.log(1-s))"
    forms = frozenset({"logits"})
    conventions = Conventions(
        complement_in_dtype=True,
        flush_subnormals=True,
        logits_through_probabilities=True,
        sources=("adapters/formulas.py textbook_probs", _SIGMOID_GRAD, XLA_FTZ),
    )

    sigmoid = "jax.nn.sigmoid"
    """The sigmoid as the user spells it (an attribute path from ``jax``)."""

    def _elementwise(self, x: Any, y: Any) -> Any:
        import jax.numpy as jnp

        import_jax()  # configured first (64-bit arrays)
        return formulas.textbook_probs(jnp, _spelled(self.sigmoid)(x), y)

    def _elementwise_source(self) -> str:
        s = self.sigmoid
        return f"-(y_j * jnp.log({s}(x_j)) + (1 - y_j) * jnp.log(1 - {s}(x_j)))"


class JitSigmoidThenTextbook(JitMixin, JaxSigmoidThenTextbook):
    """The same pipeline under jax.jit: XLA fuses the sigmoid into the loss."""

    name = "jax.jit(jax.nn.sigmoid+jax.numpy.textbook)"
    eager_adapter = "jax.nn.sigmoid+jax.numpy.textbook"
    api = "jax.jit(lambda x, y: jnp.mean(-(y*jnp.log(s) + (1-y)*jnp.log(1-s))))"


class ExpitThenTextbook(JaxSigmoidThenTextbook):
    """``jax.scipy.special.expit``, SciPy's name for the sigmoid: its own function
    (promoting integer input to float first), then ``lax.logistic`` as ``jax.nn.sigmoid``."""

    name = "jax.scipy.special.expit+jax.numpy.textbook"
    api = "s = jax.scipy.special.expit(x); -(y*jnp.log(s) + (1-y)*jnp.log(1-s))"
    sigmoid = "jax.scipy.special.expit"
    extended = True  # lax.logistic, as jax.nn.sigmoid+jax.numpy.textbook; full profile


class JitExpitThenTextbook(JitMixin, ExpitThenTextbook):
    name = "jax.jit(jax.scipy.special.expit+jax.numpy.textbook)"
    eager_adapter = "jax.scipy.special.expit+jax.numpy.textbook"
    api = "jax.jit(lambda x, y: jnp.mean(-(y*jnp.log(s) + (1-y)*jnp.log(1-s))))"


ADAPTERS = (
    TorchSigmoidThenBinaryCrossEntropy(),
    TorchFunctionalSigmoidThenBinaryCrossEntropy(),
    TorchSequentialSigmoidBCELoss(),
    TorchCompiledSigmoidThenBinaryCrossEntropy(),
    KerasSigmoidThenBinaryCrossentropy(),
    TfFunctionSigmoidThenBinaryCrossentropy(),
    XlaSigmoidThenBinaryCrossentropy(),
    TfNnSigmoidThenBinaryCrossentropy(),
    TfFunctionTfNnSigmoidThenBinaryCrossentropy(),
    XlaTfNnSigmoidThenBinaryCrossentropy(),
    DenseSigmoidThenBinaryCrossentropy(),
    TfFunctionDenseSigmoidThenBinaryCrossentropy(),
    ActivationLayerSigmoidThenBinaryCrossentropy(),
    KerasModelEvaluate(),
    JaxSigmoidThenTextbook(),
    JitSigmoidThenTextbook(),
    ExpitThenTextbook(),
    JitExpitThenTextbook(),
)
