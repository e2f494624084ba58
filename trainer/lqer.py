"""LQER: low-rank corrections of the largest quantization errors (LQER_ENABLED).

After quantization, the LQER_TOP_K matrices whose error E = W - W_hat has the largest Frobenius
norm each get a rank-LQER_RANK correction A @ B (the top singular vectors of E), with A and B
themselves quantized per row to LQER_FACTOR_BITS. Dequantization adds A @ B back.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .rowquant import dequantize_rows, quantize_rows


def add_low_rank_corrections(state: dict[str, Tensor], quantized: dict[str, dict], rank: int, top_k: int,
                             bits: int) -> None:
    """Adds lqer_a/lqer_a_scale/lqer_b/lqer_b_scale to the `top_k` entries with the largest error."""
    errors = {}
    for name, entry in quantized.items():
        if "q" in entry:
            errors[name] = state[name].detach().cpu().float() - dequantize_rows(entry["q"], entry["scale"])
    worst = sorted(errors, key=lambda name: -float(errors[name].norm()))[:top_k]
    for name in worst:
        U, S, Vh = torch.linalg.svd(errors[name], full_matrices=False)
        r = min(rank, S.numel())
        a_q, a_scale = quantize_rows(U[:, :r] * S[:r], bits)
        b_q, b_scale = quantize_rows(Vh[:r], bits)
        quantized[name].update(lqer_a=a_q, lqer_a_scale=a_scale, lqer_b=b_q, lqer_b_scale=b_scale)


def low_rank_correction(entry: dict) -> Tensor:
    return dequantize_rows(entry["lqer_a"], entry["lqer_a_scale"]) @ dequantize_rows(entry["lqer_b"], entry["lqer_b_scale"])
