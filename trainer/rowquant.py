"""Per-row symmetric integer quantization, the primitive every quantizer here builds on.

Each row gets one fp16 scale s and integers q in [-qmax, qmax], qmax = 2**(bits-1) - 1.
Without clipping, s is the row's absmax / qmax (rounded up, so nothing clips and
|w - q*s| <= s/2). SDClip (k > 0 standard deviations) sets s = k * std(row) / qmax
instead: the rare outliers saturate, the bulk gets finer steps.
"""
from __future__ import annotations

import torch
from torch import Tensor

MIN_SCALE = 2.0**-14  # smallest normal fp16; rows below it are effectively zero


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def row_scales(w: Tensor, bits: int, clip_sigmas: float = 0.0) -> Tensor:
    if clip_sigmas > 0 and w.size(1) > 1:
        return (clip_sigmas * w.std(dim=1) / qmax(bits)).clamp_min(MIN_SCALE).to(torch.float16)
    absmax = w.abs().amax(dim=1) if w.numel() else torch.zeros(w.size(0))
    return ((absmax / qmax(bits)).clamp_min(MIN_SCALE) * (1 + 2.0**-10)).to(torch.float16)  # survives fp16 rounding


def quantize_rows(w: Tensor, bits: int, clip_sigmas: float = 0.0) -> tuple[Tensor, Tensor]:
    """Round to nearest, per row."""
    w32 = w.detach().float()
    scale = row_scales(w32, bits, clip_sigmas)
    q = torch.clamp(torch.round(w32 / scale.float()[:, None]), -qmax(bits), qmax(bits)).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def dequantize_rows(q: Tensor, scale: Tensor) -> Tensor:
    return q.float() * scale.float()[:, None]
