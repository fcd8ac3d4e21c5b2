"""The suite's one cache directory (``--cache-dir``): what a run can reuse from the last.

Under it, each framework keeps its compiled executables and the suite its high-precision
references and measured check costs:

    jax/                  JAX's persistent compilation cache (eager ops and jax.jit)
    inductor/             torch.compile's Inductor caches (FX graphs, C++ kernels)
    xla-tf/               TensorFlow's XLA cache (tf.function(jit_compile=True))
    references.sqlite     references by input hash (conformance/engine/reference_store.py)
    costs.json            seconds per check of each adapter, for scheduling and shards

Everything in it is safe to delete at any time: a missing entry is recomputed. The
frameworks read their settings from the environment at import, so ``framework_environment``
is applied in each worker before any framework is imported. A cache never changes a
verdict: the frameworks' caches are keyed by their own compiler versions and flags, the
references by the code that computes them.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BCE_CONFORMANCE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$BCE_CONFORMANCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/bce-conformance``, else
    ``~/.cache/bce-conformance``."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bce-conformance"


def framework_environment(cache_dir: Path) -> dict[str, str]:
    """Environment variables that point each framework's compilation cache into
    ``cache_dir``. JAX caches every compilation (its default skips those under a second,
    and eager ops compile in milliseconds each, thousands of times)."""
    xla_flags = os.environ.get("TF_XLA_FLAGS", "")
    tf_cache = f"--tf_xla_persistent_cache_directory={cache_dir / 'xla-tf'}"
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache_dir / "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "TORCHINDUCTOR_CACHE_DIR": str(cache_dir / "inductor"),
        "TRITON_CACHE_DIR": str(cache_dir / "triton"),
        "TF_XLA_FLAGS": f"{xla_flags} {tf_cache}".strip(),
    }
