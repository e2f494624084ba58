"""Full-Hessian GPTQ (Frantar et al. 2022) as the records use it (QUANT_METHOD=gptq).

Calibration runs the trained model on training batches and sums, for every matrix, X^T X over
the inputs X it saw: the Hessian H of the layer's squared output error. GPTQ then quantizes one
column at a time, in order of decreasing H diagonal ("act order"), and spreads each column's
rounding error over the columns not yet quantized through the Cholesky factor of H^-1, so the
output error tr((W - Q) H (W - Q)^T) stays far below rounding each weight to nearest.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
from torch import Tensor, nn

from .rowquant import qmax

DAMPING = 0.01  # of the mean diagonal, added to H so its Cholesky factor exists
BLOCK = 128  # columns updated together before the lazy update of the rest


def gptq_quantize(w: Tensor, hessian: Tensor, bits: int, scale: Tensor) -> tuple[Tensor, Tensor]:
    """Integers q for w [rows, cols] with the given per-row fp16 scales, by GPTQ on `hessian` [cols, cols]."""
    limit = qmax(bits)
    W = w.detach().float().clone()
    H = hessian.detach().float().clone()
    dead = torch.diag(H) == 0  # inputs that were always zero: their weights never matter
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H.diagonal().add_(DAMPING * H.diag().mean())
    order = torch.argsort(H.diag(), descending=True)
    W, H = W[:, order], H[order][:, order]
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    s = scale.float()
    Q = torch.zeros_like(W, dtype=torch.int8)
    cols = W.size(1)
    for start in range(0, cols, BLOCK):
        end = min(start + BLOCK, cols)
        block = W[:, start:end].clone()
        errors = torch.zeros_like(block)
        Hb = Hinv[start:end, start:end]
        for j in range(end - start):
            q = torch.clamp(torch.round(block[:, j] / s), -limit, limit)
            Q[:, start + j] = q.to(torch.int8)
            err = (block[:, j] - q * s) / Hb[j, j]
            block[:, j:] -= err[:, None] * Hb[j, j:][None, :]
            errors[:, j] = err
        W[:, end:] -= errors @ Hinv[start:end, end:]
    return Q[:, torch.argsort(order)].contiguous(), scale.contiguous()


def output_error(w: Tensor, w_hat: Tensor, hessian: Tensor) -> float:
    """tr((W - W_hat) H (W - W_hat)^T): the summed squared output error over the calibration inputs."""
    d = (w.float() - w_hat.float())
    return float(((d @ hessian.float()) * d).sum())


@torch.no_grad()
def collect_hessians(model: nn.Module, batches: Iterable[Tensor], head: str = "tok_emb.weight",
                     autocast: Callable = contextlib.nullcontext) -> dict[str, Tensor]:
    """X^T X summed over `batches` for every linear layer in model.blocks, an untied lm_head, and
    the tied embedding as the output head (its input is the final norm's output)."""
    hessians: dict[str, Tensor] = {}
    last: dict[str, object] = {}  # q, k and v read the same input: its X^T X is computed once

    def accumulate(name: str, x: Tensor) -> None:
        if last.get("x") is not x:
            flat = x.detach().reshape(-1, x.size(-1)).float()
            last["x"], last["xtx"] = x, flat.T @ flat
        xtx = last["xtx"]
        hessians[name] = hessians[name] + xtx if name in hessians else xtx.clone()

    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and (name.startswith("blocks.") or name == "lm_head"):
            hooks.append(module.register_forward_pre_hook(
                lambda m, args, name=f"{name}.weight": accumulate(name, args[0])))
    if getattr(model, "lm_head", None) is None:
        hooks.append(model.final_norm.register_forward_hook(lambda m, args, out: accumulate(head, out)))
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            with autocast():
                model.logits(x)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {name: h.cpu() for name, h in hessians.items()}
