"""TensorFlow adapters: ``tf.keras.losses.BinaryCrossentropy`` (from_logits False and True),
``tf.nn.sigmoid_cross_entropy_with_logits`` and ``tf.nn.weighted_cross_entropy_with_logits``.

tensorflow is imported inside the methods. Conventions, from the sources:

- Keras (``keras/src/backend/tensorflow/nn.py``, ``binary_crossentropy``): probabilities
  are clipped to ``[epsilon, 1 - epsilon]`` with ``epsilon = keras.config.epsilon() = 1e-7``
  (the bounds converted to the tensor dtype), then ``-(y log p + (1 - y) log(1 - p))``;
  no range check. ``from_logits=True`` calls ``tf.nn.sigmoid_cross_entropy_with_logits``.
- ``tf.nn.sigmoid_cross_entropy_with_logits``: ``max(x, 0) - x y + log1p(exp(-|x|))``.
- TensorFlow's CPU kernels run with denormals flushed to zero (``tsl/platform/threadpool.cc``
  starts every worker under ``port::ScopedFlushDenormal``), so subnormal inputs read as 0
  and subnormal results become 0.

Keras specifics the adapter translates, as a user would:
- ``tf.keras`` is Keras 3, whose backend is chosen once per process: the adapters pin it to
  tensorflow (``KERAS_BACKEND``) before the first import, whatever the user exported.
- ``BinaryCrossentropy`` averages over the last axis before reducing; a trailing axis of
  size 1 is added so each element keeps its own loss (``reduction=None`` then returns the
  element losses).
- Keras ``sample_weight`` aligns with the leading (batch) axes, not NumPy's trailing ones;
  the weight is broadcast to the input's shape first, so it means the same as elsewhere.
- A Keras loss computes in ``floatx()`` (float32) unless given ``dtype``; the adapter
  passes the check's dtype, as a float64 user must.
- ``tf.nn.*`` return element losses; the mean or sum is ``tf.reduce_mean``/``tf.reduce_sum``,
  the step users write. They have no per-element weight argument.
- Gradients come from ``tf.GradientTape`` (of the sum, for unreduced losses). Keras's clip
  passes no gradient outside [epsilon, 1 - epsilon] (``clip_by_value``'s gradient).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from adapters import formulas
from adapters.base import Adapter, Conventions
from adapters.calls import ALL_REDUCTIONS, TARGET_DTYPES, Call, Prepared, in_result_dtype
from adapters.compiled import CompiledMixin
from adapters.snippets import keywords, optional, reduced

KERAS_NN = "https://github.com/keras-team/keras/blob/master/keras/src/backend/tensorflow/nn.py"
_DENORMAL = (
    "https://github.com/tensorflow/tensorflow/blob/master/third_party/xla/xla/tsl/platform/"
    "threadpool.cc EigenEnvironment::CreateThread: port::ScopedFlushDenormal"
)
_TF_NN_IMPL = (
    "https://github.com/tensorflow/tensorflow/blob/master/tensorflow/python/ops/nn_impl.py"
)

_TF_DOC = "https://www.tensorflow.org/api_docs/python/tf/nn/{}"
_TF_SHAPES = (
    "https://github.com/tensorflow/tensorflow/blob/master/tensorflow/python/ops/nn_impl.py "
    "sigmoid_cross_entropy_with_logits, weighted_cross_entropy_with_logits: "
    "labels.get_shape().assert_is_compatible_with(logits.get_shape()), else ValueError "
    "'`logits` and `labels` must have the same shape'"
)
KERAS_DOMAIN = (
    "https://keras.io/api/losses/probabilistic_losses/#binarycrossentropy-class (y_true: "
    "'This is either 0 or 1'; y_pred: 'a probability (i.e, value in [0., 1.]' without "
    "from_logits)"
)

KERAS_PROBS_CONVENTIONS = Conventions(
    documented_domain=KERAS_DOMAIN,
    prob_clip=1e-7,
    complement_in_dtype=True,
    flush_subnormals=True,
    sources=(
        f"{KERAS_NN} binary_crossentropy: clip_by_value(output, epsilon, 1 - epsilon), "
        "log(1 - output)",
        f"{_DENORMAL} (CPU thread pools flush denormals)",
    ),
)
TF_LOGITS_CONVENTIONS = Conventions(
    documented_domain=f"{_TF_DOC.format('sigmoid_cross_entropy_with_logits')} (labels: "
    "'Between 0 and 1, inclusive'; weighted_cross_entropy_with_logits: 'with values between "
    "0 and 1 inclusive')",
    flush_subnormals=True,
    sources=(
        f"{_TF_NN_IMPL} sigmoid_cross_entropy_with_logits / weighted_cross_entropy_with_logits",
        f"{_DENORMAL} (CPU thread pools flush denormals)",
    ),
)
_KERAS_LOSSES = "https://github.com/keras-team/keras/blob/master/keras/src/losses/losses.py"


def smoothed_in_dtype(conventions: Conventions) -> Conventions:
    """``conventions`` with Keras's label smoothing: the smoothed target is a tensor of the
    prediction's dtype, computed by the formula its source writes."""
    return replace(
        conventions,
        smoothed_target_in_dtype=True,
        sources=(
            *conventions.sources,
            f"{_KERAS_LOSSES} binary_crossentropy: y_true = ops.cast(y_true, y_pred.dtype); "
            "y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing",
        ),
    )


KERAS_REDUCTION = {
    "none": None,
    "mean": "sum_over_batch_size",
    "sum": "sum",
    "weighted_mean": "mean_with_sample_weight",
}


def import_tensorflow() -> Any:
    """Import tensorflow with its C++ start-up chatter (oneDNN, CPU features) silenced, and
    Keras pinned to its tensorflow backend: ``tf.keras`` is Keras 3, which picks its backend
    from ``KERAS_BACKEND`` once per process, so a user who exported ``KERAS_BACKEND=jax``
    would otherwise get keras.losses on jax under these adapters' names."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf

    return tf


def keras_backend_problem(tf: Any) -> str | None:
    """Why the keras.losses adapters cannot run in this process, or None."""
    backend = tf.keras.backend.backend()
    if backend == "tensorflow":
        return None
    return (
        f"Keras was imported in this process with the {backend!r} backend before the suite "
        "could pin it to 'tensorflow'; the keras.losses adapters test the tensorflow backend "
        "(run them in the suite's worker processes, the default)"
    )


def tf_device(call: Call) -> str:
    return "/GPU:0" if call.device == "gpu" else "/CPU:0"


def tf_synchronizer(tf: Any, call: Call) -> Callable[[], None]:
    """Waits for the device's queued work: GPU kernels run asynchronously; on the CPU,
    eager TensorFlow has finished when an op returns."""
    if call.device == "gpu":
        return tf.test.experimental.sync_devices
    return lambda: None


def tf_results(tf: Any, loss: Any, grad: Any) -> tuple[np.ndarray, np.ndarray | None]:
    return _to_numpy(tf, loss), None if grad is None else _to_numpy(tf, grad)


def watched_name(call: Call) -> str:
    """The reproducer's tensor the gradient is taken with respect to."""
    return "y_t" if call.wrt == "target" else "x_t"


def _to_numpy(tf: Any, tensor: Any) -> np.ndarray:
    values = tf.cast(tensor, tf.float64).numpy()  # exact; TF's bfloat16 has no __array__
    return in_result_dtype(values, tensor.dtype.name)


class TensorflowAdapter(Adapter):
    result_dtype = "input"
    formula_declared = True  # its conventions, with their sources, are its formula
    result_dtype_source = (
        "https://www.tensorflow.org/api_docs/python/tf/nn/sigmoid_cross_entropy_with_logits "
        "(labels: 'of the same type and shape as logits'; TensorFlow ops do not promote); "
        "Keras losses are built with dtype= the input's (https://keras.io/api/losses/: "
        "'dtype: The dtype of the loss's computations')"
    )
    shape_rule = "trailing-one"  # Keras losses, their pipelines and Model; tf.nn: "equal"
    shape_rule_source = (
        "https://github.com/keras-team/keras/blob/master/keras/src/losses/loss.py "
        "Loss.__call__ calls squeeze_or_expand_to_same_rank (a trailing axis of size 1 is "
        "squeezed or added), then keras/src/backend/tensorflow/nn.py binary_crossentropy "
        "raises 'Arguments `target` and `output` must have the same shape'"
    )
    framework = "tensorflow"
    distribution = ("tensorflow-cpu", "tensorflow")
    supports_grad = True
    supports_target_grad = True

    def devices(self) -> list[str]:
        tf = import_tensorflow()
        return ["cpu", "gpu"] if tf.config.list_physical_devices("GPU") else ["cpu"]

    def device_unavailable(self, device: str) -> str | None:
        if device == "gpu" and "gpu" not in self.devices():
            return 'tf.config.list_physical_devices("GPU") is empty'
        return None

    def prepare(self, call: Call) -> Prepared:
        tf = import_tensorflow()
        device = tf_device(call)
        with tf.device(device):
            x, y = tf.constant(call.input), tf.constant(call.target)
            loss_of = self._loss(tf, call)
        wrt = y if call.wrt == "target" else x
        synchronize = tf_synchronizer(tf, call)

        second = call.grad and call.order == 2

        def execute() -> tuple[Any, Any]:
            with tf.device(device):
                with tf.GradientTape() if second else contextlib.nullcontext() as outer:
                    if outer is not None:  # double backward: the tape over the gradient
                        outer.watch(wrt)
                    with tf.GradientTape() as tape:  # recorded for values too, as in training
                        tape.watch(wrt)
                        loss = loss_of(x, y)
                    grad = tape.gradient(loss, wrt) if call.grad else None  # of the sum
                if outer is not None:  # the Hessian is diagonal: d(sum of grad)/dx is it
                    grad = outer.gradient(grad, wrt)
            if call.grad and grad is None:
                raise RuntimeError(f"tf.GradientTape returned no gradient for the {call.wrt}")
            synchronize()
            return loss, grad

        return Prepared(execute, lambda done: tf_results(tf, *done))

    def _loss(self, tf: Any, call: Call) -> Callable[[Any, Any], Any]:
        """(x, y) -> the loss, its constants (weights) and loss objects built here, once,
        outside what a benchmark times."""
        raise NotImplementedError

    def reproducer(self, call: Call) -> str | None:
        lines = [
            *self._imports(),
            "",
            f"def tensor(a):  # exact: every value is a {call.dtype}",
            f"    return tf.cast(tf.constant(a), tf.{call.dtype})",
            "",
            f"with tf.device({tf_device(call)!r}):",
            "    x_t, y_t = tensor(x), tensor(y)",
        ]
        if call.pos_weight is not None:
            lines.append("    pw_t = tensor(pw)")
        lines += self._body(call)
        if call.grad:
            lines.append("grad = tf.cast(grad_t, tf.float64).numpy()")
        lines.append("loss = tf.cast(loss_t, tf.float64).numpy()")
        return "\n".join(lines)

    def _imports(self) -> list[str]:
        return ["import tensorflow as tf"]

    def _body(self, call: Call) -> list[str]:
        """Indented lines computing loss_t (and grad_t) under the device scope."""
        lines = [
            "    with tf.GradientTape() as tape:",
            f"        tape.watch({watched_name(call)})",
            f"        loss_t = {self._expression(call)}",
        ]
        if call.grad and call.order == 2:  # the Hessian is diagonal: d(sum of grad)/dx
            return [
                "    with tf.GradientTape() as outer:",
                "        outer.watch(x_t)",
                *("    " + line for line in lines),
                "        grad_t = tape.gradient(loss_t, x_t)",
                "    grad_t = outer.gradient(grad_t, x_t)",
            ]
        return lines + (
            [f"    grad_t = tape.gradient(loss_t, {watched_name(call)})"] if call.grad else []
        )

    def _expression(self, call: Call) -> str:
        raise NotImplementedError


class _KerasBinaryCrossentropy(TensorflowAdapter):
    from_logits = False
    reductions = frozenset(ALL_REDUCTIONS)
    target_dtypes = frozenset(TARGET_DTYPES)  # losses.py: ops.cast(y_true, y_pred.dtype)
    supports_label_smoothing = True
    supports_axis = True
    supports_sample_weight = True

    def device_unavailable(self, device: str) -> str | None:
        return keras_backend_problem(import_tensorflow()) or super().device_unavailable(device)

    def unsupported(self, call: Call) -> str | None:
        return _keras_weight_problem(self.api, call) or super().unsupported(call)

    def _loss(self, tf: Any, call: Call) -> Callable[[Any, Any], Any]:
        loss = tf.keras.losses.BinaryCrossentropy(
            from_logits=self.from_logits,
            label_smoothing=call.label_smoothing,
            axis=-1 if call.axis is None else call.axis,
            reduction=KERAS_REDUCTION[call.reduction],
            dtype=call.dtype,
        )
        weights = keras_sample_weight(call)
        weight = None if weights is None else tf.constant(weights)
        if call.axis is None:  # a trailing axis of 1: the mean over it keeps each element
            return lambda x, y: loss(
                tf.expand_dims(y, -1), tf.expand_dims(x, -1), sample_weight=weight
            )
        return lambda x, y: loss(y, x, sample_weight=weight)

    def _imports(self) -> list[str]:
        pin = 'os.environ["KERAS_BACKEND"] = "tensorflow"  # tf.keras is Keras 3'
        return ["import os", "", pin, "import tensorflow as tf"]

    def _body(self, call: Call) -> list[str]:
        return [*keras_weight_source(call), *super()._body(call)]

    def _expression(self, call: Call) -> str:
        options = keywords(
            from_logits=str(self.from_logits),
            label_smoothing=repr(call.label_smoothing) if call.label_smoothing else None,
            axis=None if call.axis is None else repr(call.axis),
            reduction=repr(KERAS_REDUCTION[call.reduction]),
            dtype=repr(call.dtype),
        )
        weight = ", sample_weight=w_t" if keras_sample_weight(call) is not None else ""
        return f"tf.keras.losses.BinaryCrossentropy({options})({_keras_arguments(call)}{weight})"


def _keras_arguments(call: Call) -> str:
    """(y, x) as the reproducer passes them: as they are with an axis; without one, with a
    trailing axis of 1 added, whose mean keeps each element its own loss."""
    if call.axis is not None:
        return "y_t, x_t"
    return "y_t[..., tf.newaxis], tf.expand_dims(x_t, -1)"


def _keras_weight_problem(api: str, call: Call) -> str | None:
    """Why a Keras loss or metric cannot take ``call``'s weights, or None."""
    if call.axis is not None and call.weight is not None:
        return (
            f"{api} weighs the per-sample losses left after the axis, not elements: "
            "give sample_weight"
        )
    return None


def keras_sample_weight(call: Call) -> np.ndarray | None:
    """The ``sample_weight`` a Keras loss or metric is given for ``call``: the case's
    per-sample weight as the user writes it (Keras then aligns it as it does); a
    per-element weight broadcast to the input's shape first, as the per-element losses
    need (each element its own sample); both: their product, broadcast so."""
    if call.weight is None:
        return call.sample_weight
    product = np.broadcast_to(call.weight, call.input.shape)
    if call.sample_weight is not None:
        product = product * call.sample_weight_full()  # in the dtype, as a user's product
    return np.asarray(product, dtype=call.input.dtype)


def keras_weight_source(call: Call) -> list[str]:
    """The reproducer's line making ``w_t``, the ``sample_weight`` (see above)."""
    if call.weight is None:
        return [] if call.sample_weight is None else ["    w_t = tensor(sw)"]
    if call.sample_weight is None:
        return ["    w_t = tensor(np.broadcast_to(w, x.shape))  # one weight per element"]
    return [
        "    sw_full = sw.reshape(sw.shape + (1,) * (x.ndim - sw.ndim))  # leading axes",
        "    w_t = tensor(np.broadcast_to(w, x.shape) * sw_full)",
    ]


class KerasBinaryCrossentropy(_KerasBinaryCrossentropy):
    name = "keras.losses.BinaryCrossentropy"
    api = "tf.keras.losses.BinaryCrossentropy(reduction=r, dtype=d)(y, p, sample_weight=w)"
    forms = frozenset({"probs"})
    conventions = smoothed_in_dtype(KERAS_PROBS_CONVENTIONS)


class KerasBinaryCrossentropyFromLogits(_KerasBinaryCrossentropy):
    name = "keras.losses.BinaryCrossentropy.from_logits"
    api = "tf.keras.losses.BinaryCrossentropy(from_logits=True, reduction=r)(y, x, sample_weight=w)"
    forms = frozenset({"logits"})
    from_logits = True
    supports_second_grad = True
    conventions = smoothed_in_dtype(replace(TF_LOGITS_CONVENTIONS, documented_domain=KERAS_DOMAIN))


class KerasMetricBinaryCrossentropy(KerasBinaryCrossentropy):
    """``keras.metrics.BinaryCrossentropy``: the same per-sample losses (its function is
    ``keras.losses.binary_crossentropy``, axis -1), accumulated as a weighted mean, the
    sum of the weighted losses over the sum of the weights (``keras.metrics.Mean``), so
    its one reduction is ``weighted_mean``. A metric holds state, not a graph to
    differentiate: no gradients."""

    name = "keras.metrics.BinaryCrossentropy"
    api = (
        "m = tf.keras.metrics.BinaryCrossentropy(dtype=d); "
        "m.update_state(y, p, sample_weight=w); m.result()"
    )
    reductions = frozenset({"weighted_mean"})
    supports_grad = False
    supports_target_grad = False

    def unsupported(self, call: Call) -> str | None:
        if call.axis is not None and call.axis % call.input.ndim != call.input.ndim - 1:
            return f"{self.api} averages over the last axis only (it has no axis argument)"
        return super().unsupported(call)

    def _loss(self, tf: Any, call: Call) -> Callable[[Any, Any], Any]:
        metric = tf.keras.metrics.BinaryCrossentropy(
            from_logits=self.from_logits, label_smoothing=call.label_smoothing, dtype=call.dtype
        )
        weights = keras_sample_weight(call)
        weight = None if weights is None else tf.constant(weights)
        last_axis = call.axis is not None  # its own mean over the last axis, else per element

        def result(x: Any, y: Any) -> Any:
            metric.reset_state()  # each call is one evaluation, as a fresh metric's
            if last_axis:
                metric.update_state(y, x, weight)
            else:
                metric.update_state(tf.expand_dims(y, -1), tf.expand_dims(x, -1), weight)
            return metric.result()

        return result

    def _body(self, call: Call) -> list[str]:
        options = keywords(
            from_logits=str(self.from_logits),
            label_smoothing=repr(call.label_smoothing) if call.label_smoothing else None,
            dtype=repr(call.dtype),
        )
        weight = ", sample_weight=w_t" if keras_sample_weight(call) is not None else ""
        return [
            *keras_weight_source(call),
            f"    metric = tf.keras.metrics.BinaryCrossentropy({options})",
            f"    metric.update_state({_keras_arguments(call)}{weight})",
            "    loss_t = metric.result()",
        ]


class KerasMetricBinaryCrossentropyFromLogits(KerasMetricBinaryCrossentropy):
    name = "keras.metrics.BinaryCrossentropy.from_logits"
    api = (
        "m = tf.keras.metrics.BinaryCrossentropy(from_logits=True, dtype=d); "
        "m.update_state(y, x, sample_weight=w); m.result()"
    )
    forms = frozenset({"logits"})
    from_logits = True
    conventions = KerasBinaryCrossentropyFromLogits.conventions


class TfSigmoidCrossEntropyWithLogits(TensorflowAdapter):
    name = "tf.nn.sigmoid_cross_entropy_with_logits"
    api = "tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x))"
    forms = frozenset({"logits"})
    supports_weight = False
    supports_second_grad = True
    conventions = TF_LOGITS_CONVENTIONS
    shape_rule = "equal"
    shape_rule_source = _TF_SHAPES

    def _loss(self, tf: Any, call: Call) -> Callable[[Any, Any], Any]:
        def loss(x: Any, y: Any) -> Any:
            each = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
            return formulas.reduce(each, call.reduction, tf.reduce_mean, tf.reduce_sum)

        return loss

    def _expression(self, call: Call) -> str:
        loss = "tf.nn.sigmoid_cross_entropy_with_logits(labels=y_t, logits=x_t)"
        return reduced(loss, call.reduction, "tf.reduce_mean", "tf.reduce_sum")


class TfWeightedCrossEntropyWithLogits(TensorflowAdapter):
    name = "tf.nn.weighted_cross_entropy_with_logits"
    api = "tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(y, x, pos_weight=pw))"
    forms = frozenset({"logits"})
    supports_weight = False
    supports_pos_weight = True
    supports_second_grad = True
    conventions = TF_LOGITS_CONVENTIONS
    shape_rule = "equal"
    shape_rule_source = _TF_SHAPES

    def unsupported(self, call: Call) -> str | None:
        if call.pos_weight is None and call.form == "logits":
            return f"{self.api} requires pos_weight; see tf.nn.sigmoid_cross_entropy_with_logits"
        return super().unsupported(call)

    def _loss(self, tf: Any, call: Call) -> Callable[[Any, Any], Any]:
        pos_weight = tf.constant(call.pos_weight)

        def loss(x: Any, y: Any) -> Any:
            each = tf.nn.weighted_cross_entropy_with_logits(
                labels=y, logits=x, pos_weight=pos_weight
            )
            return formulas.reduce(each, call.reduction, tf.reduce_mean, tf.reduce_sum)

        return loss

    def _expression(self, call: Call) -> str:
        options = keywords(
            labels="y_t", logits="x_t", pos_weight=optional(call, "pos_weight", "pw_t")
        )
        loss = f"tf.nn.weighted_cross_entropy_with_logits({options})"
        return reduced(loss, call.reduction, "tf.reduce_mean", "tf.reduce_sum")


class XlaSigmoidCrossEntropyWithLogits(CompiledMixin, TfSigmoidCrossEntropyWithLogits):
    """tf.nn.sigmoid_cross_entropy_with_logits and its gradient, XLA-compiled."""

    name = "tf.function(jit_compile=True)(tf.nn.sigmoid_cross_entropy_with_logits)"
    eager_adapter = "tf.nn.sigmoid_cross_entropy_with_logits"
    api = "tf.function(jit_compile=True)(lambda x, y: tf.reduce_mean(tf.nn.sigmoid_..."
    supports_second_grad = False  # its compiled function returns the first derivative

    def prepare(self, call: Call) -> Prepared:
        tf = import_tensorflow()
        compiled = self.compiled(
            (call.reduction, call.wrt), lambda: self._xla_function(tf, call.reduction, call.wrt)
        )
        device = tf_device(call)
        with tf.device(device):
            x, y = tf.constant(call.input), tf.constant(call.target)
        synchronize = tf_synchronizer(tf, call)

        def execute() -> tuple[Any, Any]:
            with tf.device(device):
                loss, grad = compiled(x, y)
            synchronize()
            return loss, grad if call.grad else None

        return Prepared(execute, lambda done: tf_results(tf, *done))

    @staticmethod
    def _xla_function(tf: Any, reduction: str, wrt: str) -> Any:
        def value_and_grad(x: Any, y: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                tape.watch(y if wrt == "target" else x)
                loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
                loss = formulas.reduce(loss, reduction, tf.reduce_mean, tf.reduce_sum)
            return loss, tape.gradient(loss, y if wrt == "target" else x)

        return tf.function(value_and_grad, jit_compile=True)

    def _body(self, call: Call) -> list[str]:
        return [
            "    @tf.function(jit_compile=True)",
            "    def value_and_grad(x_t, y_t):",
            "        with tf.GradientTape() as tape:",
            f"            tape.watch({watched_name(call)})",
            f"            loss_t = {self._expression(call)}",
            f"        return loss_t, tape.gradient(loss_t, {watched_name(call)})",
            "",
            "    loss_t, grad_t = value_and_grad(x_t, y_t)",
        ]


ADAPTERS = (
    KerasBinaryCrossentropy(),
    KerasBinaryCrossentropyFromLogits(),
    KerasMetricBinaryCrossentropy(),
    KerasMetricBinaryCrossentropyFromLogits(),
    TfSigmoidCrossEntropyWithLogits(),
    TfWeightedCrossEntropyWithLogits(),
    XlaSigmoidCrossEntropyWithLogits(),
)
