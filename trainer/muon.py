"""Muon: momentum SGD whose 2-D updates are orthogonalized by a Newton-Schulz iteration.

Options from the records: MuonEq-R (each row of the update normalized first), the Polar Express
per-iteration coefficients, and decoupled weight decay. Ranks split the matrices round-robin;
each orthogonalizes its share and one all-reduce of a flat buffer gives every rank every update.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

QUINTIC = ((3.4445, -4.7750, 2.0315),)  # the baseline's one tuple, used at every step
# Polar Express (PR #1344): minimax-optimal tuples, one per iteration; later steps reuse the last.
POLAR_EXPRESS = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)


def newton_schulz(g: Tensor, steps: int, coefficients: tuple = QUINTIC, eps: float = 1e-7) -> Tensor:
    """Approximately orthogonalize g: X <- aX + (bA + cA^2)X with A = XX^T, tuple i at step i."""
    x = g.bfloat16() if g.is_cuda else g.float()
    x = x / (x.norm() + eps)
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.T
    for i in range(steps):
        a, b, c = coefficients[min(i, len(coefficients) - 1)]
        m = x @ x.T
        x = a * x + (b * m + c * m @ m) @ x
    return x.T if transposed else x


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float, backend_steps: int, nesterov: bool = True,
                 weight_decay: float = 0.0, row_normalize: bool = False, polar_express: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps, nesterov=nesterov,
                                      weight_decay=weight_decay, row_normalize=row_normalize))
        self.coefficients = POLAR_EXPRESS if polar_express else QUINTIC
        self.orthogonalize = newton_schulz  # replaced by a compiled version on CUDA

    @torch.no_grad()
    def step(self, closure=None):
        distributed = dist.is_available() and dist.is_initialized()
        world_size = dist.get_world_size() if distributed else 1
        rank = dist.get_rank() if distributed else 0
        for group in self.param_groups:
            params = group["params"]
            if not params:
                continue
            update_dtype = torch.bfloat16 if params[0].is_cuda else torch.float32
            flat = torch.zeros(sum(p.numel() for p in params), device=params[0].device, dtype=update_dtype)
            offset = 0
            for i, p in enumerate(params):
                if i % world_size == rank and p.grad is not None:
                    g = p.grad
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(g)
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).add_(g)
                    if group["nesterov"]:
                        g = g.add(buf, alpha=group["momentum"])
                    if group["row_normalize"]:
                        g = g / g.float().norm(dim=-1, keepdim=True).clamp_min(1e-7).to(g.dtype)
                    g = self.orthogonalize(g, group["backend_steps"], self.coefficients)
                    g = g * max(1.0, g.size(0) / g.size(1)) ** 0.5
                    flat[offset : offset + p.numel()] = g.reshape(-1)
                offset += p.numel()
            if distributed:
                dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            offset = 0
            for p in params:
                if group["weight_decay"] > 0:
                    p.mul_(1.0 - group["lr"] * group["weight_decay"])
                p.add_(flat[offset : offset + p.numel()].view_as(p).to(p.dtype), alpha=-group["lr"])
                offset += p.numel()
