"""BCE under Keras mixed precision (``keras.mixed_precision``), as a model trained with the
policy ``mixed_float16`` or ``mixed_bfloat16`` computes it.

Measured (keras 3.15, tensorflow backend): the layers compute and return float16/bfloat16,
but ``keras.losses.BinaryCrossentropy`` keeps the float32 of ``keras.config.floatx()``
(a loss's dtype does not follow the global policy): it casts the half-precision
predictions up and returns exactly the float32 loss of those rounded predictions, from
probabilities and from logits. So the float32 clip applies, and a sigmoid output that
saturated to 1.0 in half precision gives the finite -log(1 - float32(1 - 1e-7)) = 15.94,
where the same loss computed in the half dtype (``dtype="float16"``) gives inf: the clip
bound 1 - 1e-7 is 1 there (keras#377, registered for the half-precision checks).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

keras = pytest.importorskip("keras")

POLICIES = ["mixed_float16", "mixed_bfloat16"]


@pytest.fixture(params=POLICIES)
def policy(request: pytest.FixtureRequest) -> Iterator[str]:
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


def _half(policy: str) -> str:
    return policy.removeprefix("mixed_")


@pytest.mark.parametrize("from_logits", [False, True], ids=["probs", "logits"])
def test_loss_is_the_float32_loss_of_the_half_precision_predictions(policy, from_logits):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (rng.random((64, 4)) < 0.5).astype(np.float32)
    activation = None if from_logits else "sigmoid"
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation=activation)])
    predictions = model(x)
    assert keras.backend.standardize_dtype(predictions.dtype) == _half(policy)
    loss = keras.losses.BinaryCrossentropy(from_logits=from_logits)
    value = loss(y, predictions)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    upcast = keras.ops.cast(predictions, "float32")
    expected = keras.losses.BinaryCrossentropy(from_logits=from_logits, dtype="float32")(y, upcast)
    assert float(value) == float(expected)  # bit for bit


def test_saturated_half_precision_sigmoid_meets_the_float32_clip(policy):
    one = keras.ops.ones((1, 1), dtype=_half(policy))
    y = np.zeros((1, 1), np.float32)
    under_policy = float(keras.losses.BinaryCrossentropy()(y, one))
    top = np.float32(1 - 1e-7)  # the clip's upper bound as float32 sees it
    assert under_policy == pytest.approx(-math.log(float(np.float32(1) - top)), rel=1e-6)
    in_half = float(keras.losses.BinaryCrossentropy(dtype=_half(policy))(y, one))
    assert in_half == math.inf
