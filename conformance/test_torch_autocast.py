"""BCE under ``torch.autocast``, as mixed-precision training runs it.

Measured on CPU (torch 2.13): inside ``torch.autocast("cpu", dtype=bfloat16 or float16)``
both ``binary_cross_entropy`` and ``binary_cross_entropy_with_logits`` run, and in float32:
low-precision inputs produced inside the region (a matmul's output) are upcast, and the loss
is exactly the float32 loss of the upcast inputs. On CUDA, PyTorch refuses
``binary_cross_entropy`` under autocast ("unsafe to autocast": the autocast docs'
"CUDA Ops that can autocast to float32" note) while ``binary_cross_entropy_with_logits`` is
allowed; that is checked where a GPU is present and skipped with the reason otherwise.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
LOW = [torch.bfloat16, torch.float16]


def _low_precision_logits(device: str, dtype) -> tuple:
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(64, 8, generator=generator).to(device)
    w = torch.randn(8, 8, generator=generator).to(device)
    y = (torch.rand(64, 8, generator=generator) < 0.5).float().to(device)
    with torch.autocast(device, dtype=dtype):
        logits = x @ w  # autocast runs the matmul in the low precision
    return logits, y


@pytest.mark.parametrize("dtype", LOW, ids=str)
def test_cpu_autocast_runs_both_losses_in_float32(dtype):
    logits, y = _low_precision_logits("cpu", dtype)
    assert logits.dtype == dtype
    with torch.autocast("cpu", dtype=dtype):
        from_logits = F.binary_cross_entropy_with_logits(logits, y)
        probs = torch.sigmoid(logits)
        from_probs = F.binary_cross_entropy(probs, y)
    assert from_logits.dtype == torch.float32 and from_probs.dtype == torch.float32
    assert torch.equal(from_logits, F.binary_cross_entropy_with_logits(logits.float(), y))
    assert torch.equal(from_probs, F.binary_cross_entropy(probs.float(), y))


def test_cuda_autocast_refuses_bce_but_not_bce_with_logits():
    if not torch.cuda.is_available():
        pytest.skip("torch.cuda.is_available() is False")
    logits, y = _low_precision_logits("cuda", torch.float16)
    with torch.autocast("cuda", dtype=torch.float16):
        assert F.binary_cross_entropy_with_logits(logits, y).dtype == torch.float32
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(torch.sigmoid(logits), y)
