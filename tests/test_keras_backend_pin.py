"""The keras.losses adapters test Keras on its tensorflow backend whatever the user exported:
KERAS_BACKEND=jax in the environment must not put another backend under their names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

pytest.importorskip("tensorflow")
pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_exported_keras_backend_is_overridden_for_the_keras_losses_adapters():
    out = _python(
        """
        from adapters.tensorflow_bce import KerasBinaryCrossentropy
        adapter = KerasBinaryCrossentropy()
        print(adapter.device_unavailable("cpu"))
        import keras
        print(keras.backend.backend())
        """
    )
    assert out.splitlines() == ["None", "tensorflow"]


def test_keras_already_running_on_another_backend_is_a_skip_with_the_reason():
    out = _python(
        """
        import keras  # the user's code imported Keras first, on jax
        from adapters.tensorflow_bce import KerasBinaryCrossentropy
        print(KerasBinaryCrossentropy().device_unavailable("cpu"))
        """
    )
    assert "imported in this process with the 'jax' backend" in out
