"""How a model's state dict becomes the artifact's integers, and back.

Matrices are quantized per row (rowquant.py): by GPTQ (gptq.py) where calibration gave a
Hessian, else by rounding to nearest, with bits and an SDClip clip per tensor kind; LQER
(lqer.py) may add low-rank corrections of the largest errors. Small tensors and the control
gains stay in floating point.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .gptq import gptq_quantize
from .lqer import add_low_rank_corrections, low_rank_correction
from .model import is_control
from .rowquant import dequantize_rows, quantize_rows, row_scales

KEEP_FLOAT_MAX_NUMEL = 4_096  # vectors and tiny matrices; every baseline block matrix is larger


@dataclass(frozen=True)
class QuantPlan:
    """Bits and clip per tensor kind, and the LQER settings (rank 0: off)."""

    matrix_bits: int = 8
    embed_bits: int = 8
    matrix_clip_sigmas: float = 0.0
    mlp_clip_sigmas: float = 0.0
    attn_clip_sigmas: float = 0.0
    embed_clip_sigmas: float = 0.0
    lqer_rank: int = 0
    lqer_top_k: int = 0
    lqer_factor_bits: int = 4

    @classmethod
    def from_config(cls, cfg) -> "QuantPlan":
        return cls(
            matrix_bits=cfg.matrix_bits, embed_bits=cfg.embed_bits, matrix_clip_sigmas=cfg.matrix_clip_sigmas,
            mlp_clip_sigmas=cfg.mlp_clip_sigmas, attn_clip_sigmas=cfg.attn_clip_sigmas,
            embed_clip_sigmas=cfg.embed_clip_sigmas, lqer_rank=cfg.lqer_rank if cfg.lqer_enabled else 0,
            lqer_top_k=cfg.lqer_top_k, lqer_factor_bits=cfg.lqer_factor_bits,
        )

    def bits(self, name: str) -> int:
        return self.embed_bits if "tok_emb" in name else self.matrix_bits

    def clip_sigmas(self, name: str) -> float:
        if "tok_emb" in name:
            return self.embed_clip_sigmas
        kind = self.mlp_clip_sigmas if ".mlp." in name else self.attn_clip_sigmas if ".attn." in name else 0.0
        return kind or self.matrix_clip_sigmas


def keeps_float(name: str, t: Tensor) -> bool:
    return t.ndim != 2 or t.numel() <= KEEP_FLOAT_MAX_NUMEL or is_control(name) or not t.is_floating_point()


def quantize_state_dict(state: dict[str, Tensor], plan: QuantPlan,
                        hessians: dict[str, Tensor] | None = None) -> dict[str, dict]:
    """name -> {"q", "scale", "bits"} (+ LQER factors) for matrices, or {"value"} for kept tensors.
    A matrix with a Hessian in `hessians` is quantized by GPTQ, any other by rounding to nearest."""
    out: dict[str, dict] = {}
    for name, t in state.items():
        t = t.detach().cpu()
        if keeps_float(name, t):
            if t.is_floating_point():
                t = t.to(torch.float32 if is_control(name) else torch.float16)
            out[name] = {"value": t.contiguous()}
            continue
        bits, clip = plan.bits(name), plan.clip_sigmas(name)
        if hessians is not None and name in hessians:
            q, scale = gptq_quantize(t, hessians[name], bits, row_scales(t.float(), bits, clip))
        else:
            q, scale = quantize_rows(t, bits, clip)
        out[name] = {"q": q, "scale": scale, "bits": bits}
    if plan.lqer_rank:
        add_low_rank_corrections(state, out, plan.lqer_rank, plan.lqer_top_k, plan.lqer_factor_bits)
    return out


def dequantize_state_dict(quantized: dict[str, dict], like: dict[str, Tensor]) -> dict[str, Tensor]:
    """Back to tensors with the dtypes and shapes of `like` (the model's own state dict)."""
    missing = set(like) - set(quantized)
    if missing:
        raise ValueError(f"artifact lacks tensors: {', '.join(sorted(missing)[:5])}")
    out = {}
    for name, ref in like.items():
        entry = quantized[name]
        if "q" in entry:
            t = dequantize_rows(entry["q"], entry["scale"])
            if "lqer_a" in entry:
                t = t + low_rank_correction(entry)
        else:
            t = entry["value"]
        if tuple(t.shape) != tuple(ref.shape):
            raise ValueError(f"artifact tensor {name} has shape {tuple(t.shape)}, model expects {tuple(ref.shape)}")
        out[name] = t.to(dtype=ref.dtype)
    return out
