"""Where a run happened: what a reader needs to reproduce a result or explain a difference.

Some results depend on more than the framework version: XLA's float16 path depends on the
CPU's instruction set, thread counts change summation order, and a GPU's driver and CUDA
decide its kernels. Everything here is read without importing a framework (versions come
from package metadata, the CPU from /proc/cpuinfo, the GPU from nvidia-smi when present),
so describing the environment costs milliseconds and cannot fail the run.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGES = (
    "bce-conformance",
    "numpy", "ml_dtypes", "mpmath", "gmpy2",
    "torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "optax",
    "jax-cuda12-plugin", "jax-cuda13-plugin", "cupy-cuda12x",
)  # fmt: skip
"""Distributions whose versions a report records (those installed)."""

CPU_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_bf16",
    "avx512_fp16", "avx512vl", "amx_bf16", "amx_fp16", "amx_tile", "asimd", "fphp", "asimdhp",
)  # fmt: skip
"""CPU features that change which kernels the frameworks pick (vector width, native half
and bfloat16 arithmetic, fused multiply-add)."""

THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS", "XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES",
)  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]


def machine_label() -> str:
    """The label this machine's checks carry in a report: its host name."""
    return socket.gethostname()


def describe(case_paths: Iterable[Path], registry_path: Path) -> dict[str, Any]:
    """The environment block of a report."""
    return {
        "host": machine_label(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu(),
        "processors": os.cpu_count(),
        "threads": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
        "gpus": _gpus(),
        "packages": _versions(PACKAGES),
        "suite": {
            "version": _versions(["bce-conformance"]).get("bce-conformance", ""),
            **_git(),
        },
        "known_bugs_sha256": _sha256_files([(registry_path.name, registry_path)]),
        "cases_sha256": _sha256_files(_case_files(case_paths)),
    }


def _cpu() -> dict[str, Any]:
    model, flags = platform.processor() or "", set[str]()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "CPU part") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"model": model, "flags": [f for f in CPU_FLAGS if f in flags]}


def _gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs as nvidia-smi names them (empty without one, or without the tool)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    query = "name,driver_version,memory.total"
    try:
        out = subprocess.run(
            [smi, f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout  # fmt: skip
        cuda = subprocess.run([smi], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    cuda_version = ""
    if "CUDA Version:" in cuda:
        cuda_version = cuda.split("CUDA Version:")[1].split()[0]
    gpus = []
    for line in out.strip().splitlines():
        name, driver, memory = (part.strip() for part in [*line.split(","), "", ""][:3])
        gpus.append({"name": name, "driver": driver, "memory": memory, "cuda": cuda_version})
    return gpus


def _versions(names: Iterable[str]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _git() -> dict[str, Any]:
    """The suite's commit, and whether the working tree differs from it."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def _case_files(paths: Iterable[Path]) -> list[tuple[str, Path]]:
    """(name relative to the folder given, path) of every case and data file."""
    files: list[tuple[str, Path]] = []
    for root in map(Path, paths):
        if root.is_dir():
            for path in root.rglob("*"):
                if path.suffix in (".yaml", ".yml", ".npy") and path.is_file():
                    files.append((path.relative_to(root).as_posix(), path))
        elif root.is_file():
            files.append((root.name, root))
    return files


def _sha256_files(files: Iterable[tuple[str, Path]]) -> str:
    """One digest over the files' names and contents: equal on two machines that hold the
    same files, wherever they are checked out."""
    digest = hashlib.sha256()
    for name, path in sorted(files):
        try:
            content = path.read_bytes()
        except OSError:
            content = b"<unreadable>"
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()
