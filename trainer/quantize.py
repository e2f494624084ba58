"""Per-row symmetric integer quantization of a model's matrices.

Each row gets one fp16 scale s (rounded up, so no value clips) and integers q in
[-qmax, qmax], qmax = 2**(bits-1) - 1; |w - q*s| <= s/2. Small tensors and the
control gains stay in floating point.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .model import CONTROL_TENSOR_PATTERNS

KEEP_FLOAT_MAX_NUMEL = 4_096  # vectors and tiny matrices; every baseline block matrix is larger
MIN_SCALE = 2.0**-14  # smallest normal fp16; rows below it are effectively zero


def quantize_rows(w: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    qmax = 2 ** (bits - 1) - 1
    w32 = w.detach().float()
    absmax = w32.abs().amax(dim=1) if w32.numel() else torch.zeros(w32.size(0))
    scale = (absmax / qmax).clamp_min(MIN_SCALE) * (1 + 2.0**-10)  # survives rounding to fp16 >= exact
    scale = scale.to(torch.float16)
    q = torch.clamp(torch.round(w32 / scale.float()[:, None]), -qmax, qmax).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def dequantize_rows(q: Tensor, scale: Tensor) -> Tensor:
    return q.float() * scale.float()[:, None]


def keeps_float(name: str, t: Tensor) -> bool:
    return (
        t.ndim != 2
        or t.numel() <= KEEP_FLOAT_MAX_NUMEL
        or any(pattern in name for pattern in CONTROL_TENSOR_PATTERNS)
        or not t.is_floating_point()
    )


def quantize_state_dict(state: dict[str, Tensor], bits: int, embed_bits: int) -> dict[str, dict]:
    """name -> {"q", "scale", "bits"} for quantized matrices or {"value"} for kept tensors."""
    out: dict[str, dict] = {}
    for name, t in state.items():
        t = t.detach().cpu()
        if keeps_float(name, t):
            if t.is_floating_point():
                is_control = any(pattern in name for pattern in CONTROL_TENSOR_PATTERNS)
                t = t.to(torch.float32 if is_control else torch.float16)
            out[name] = {"value": t.contiguous()}
        else:
            b = embed_bits if "tok_emb" in name else bits
            q, scale = quantize_rows(t, b)
            out[name] = {"q": q, "scale": scale, "bits": b}
    return out


def dequantize_state_dict(quantized: dict[str, dict], like: dict[str, Tensor]) -> dict[str, Tensor]:
    """Back to tensors with the dtypes and shapes of `like` (the model's own state dict)."""
    missing = set(like) - set(quantized)
    if missing:
        raise ValueError(f"artifact lacks tensors: {', '.join(sorted(missing)[:5])}")
    out = {}
    for name, ref in like.items():
        entry = quantized[name]
        t = dequantize_rows(entry["q"], entry["scale"]) if "q" in entry else entry["value"]
        if tuple(t.shape) != tuple(ref.shape):
            raise ValueError(f"artifact tensor {name} has shape {tuple(t.shape)}, model expects {tuple(ref.shape)}")
        out[name] = t.to(dtype=ref.dtype)
    return out
