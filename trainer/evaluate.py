"""val_loss and val_bpb over the whole validation split, as the challenge defines them.

Both modes score every target token exactly once. The plain mode cuts the split
into consecutive sequences; the sliding mode moves a full-length window forward
by `stride` tokens and scores only the tokens no earlier window scored, so every
token after the first window sees at least seq_len - stride tokens of context.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .tokenizer_bytes import ByteTables


@dataclass
class EvalResult:
    val_loss: float  # nats per token
    val_bpb: float  # bits per UTF-8 byte
    tokens: int
    bytes: int
    seconds: float


def score_windows(num_targets: int, seq_len: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(window starts, first scored position in each window) covering targets [0, num_targets) once."""
    if stride <= 0 or stride >= seq_len:
        starts = torch.arange(0, num_targets, seq_len)
        return starts, torch.zeros_like(starts)
    ends = [seq_len]
    while ends[-1] < num_targets:
        ends.append(min(ends[-1] + stride, num_targets))
    ends_t = torch.tensor(ends)
    starts = ends_t - seq_len
    scored_from = torch.cat((torch.zeros(1, dtype=torch.long), ends_t[:-1])) - starts
    return starts, scored_from


@torch.no_grad()
def evaluate(
    model,
    val_tokens: torch.Tensor,
    tables: ByteTables,
    seq_len: int,
    batch_tokens: int,
    stride: int = 0,
    rank: int = 0,
    world_size: int = 1,
    autocast=contextlib.nullcontext,
) -> EvalResult:
    """Score the full split; ranks share the windows and sum their totals."""
    device = tables.base_bytes.device
    t0 = time.perf_counter()
    num_targets = val_tokens.numel() - 1
    starts, scored_from = score_windows(num_targets, seq_len, stride)
    lo, hi = len(starts) * rank // world_size, len(starts) * (rank + 1) // world_size
    starts, scored_from = starts[lo:hi], scored_from[lo:hi]
    per_batch = max(1, batch_tokens // (world_size * seq_len))
    positions = torch.arange(seq_len)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # nats, tokens, bytes
    for b in range(0, len(starts), per_batch):
        batch_starts, batch_from = starts[b : b + per_batch], scored_from[b : b + per_batch]
        pad = per_batch - len(batch_starts)  # fixed shapes keep compiled graphs reusable
        if pad:
            batch_starts = torch.cat((batch_starts, batch_starts[-1:].expand(pad)))
            batch_from = torch.cat((batch_from, torch.full((pad,), seq_len)))
        index = batch_starts[:, None] + positions[None, :]
        x = val_tokens[index].to(device, torch.long, non_blocking=True)
        y = val_tokens[index + 1].to(device, torch.long, non_blocking=True)
        mask = (positions[None, :] >= batch_from[:, None]).to(device)
        with autocast():
            nll = model(x, y, reduction="none")
        totals[0] += (nll.double() * mask).sum()
        totals[1] += mask.sum()
        totals[2] += (tables.count(x, y) * mask).sum()
    if world_size > 1:
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    nats, tokens, nbytes = (float(v) for v in totals.tolist())
    return EvalResult(
        val_loss=nats / tokens,
        val_bpb=nats / math.log(2.0) / nbytes,
        tokens=int(tokens),
        bytes=int(nbytes),
        seconds=time.perf_counter() - t0,
    )
