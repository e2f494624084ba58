"""val_loss and val_bpb over the whole validation split, as the challenge defines them.

Targets are numbered 0..N-1: target t is token t+1, predicted from tokens 0..t. A range of
targets [lo, hi) is scored by windows of seq_len tokens that each score the targets since the
previous window's end: consecutive windows with stride = seq_len (or 0) is the plain mode; a
smaller stride is the sliding mode, where every scored target after the first window sees at
least seq_len - stride tokens of context. Either way each target in the range is scored exactly
once, and never with a token after it (attention is causal), which is what lets test-time
training (ttt.py) score one range, train on it, then score the next.
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


def score_windows(lo: int, hi: int, seq_len: int, stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(window start, first scored position, end position) per window; together they score the
    targets [lo, hi) once. Needs hi - seq_len >= 0: every window is a full seq_len tokens."""
    step = stride if 0 < stride < seq_len else seq_len
    ends = list(range(min(hi, max(lo + step, seq_len)), hi, step))
    if not ends or ends[-1] != hi:
        ends.append(hi)
    ends_t = torch.tensor(ends)
    starts = (ends_t - seq_len).clamp_min(0)
    scored_from = torch.cat((torch.tensor([lo]), ends_t[:-1])) - starts
    return starts, scored_from, ends_t - starts


@dataclass
class Totals:
    """Summed nats, scored targets and their UTF-8 bytes; ranks add theirs with all_reduce."""

    values: torch.Tensor  # float64 [nats, tokens, bytes]

    @classmethod
    def zeros(cls, device: torch.device) -> "Totals":
        return cls(torch.zeros(3, dtype=torch.float64, device=device))

    def result(self, seconds: float, world_size: int = 1) -> EvalResult:
        totals = self.values.clone()
        if world_size > 1:
            dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        nats, tokens, nbytes = (float(v) for v in totals.tolist())
        return EvalResult(val_loss=nats / tokens, val_bpb=nats / math.log(2.0) / nbytes, tokens=int(tokens),
                          bytes=int(nbytes), seconds=seconds)


@torch.inference_mode()
def score_range(model, val_tokens: torch.Tensor, tables: ByteTables, lo: int, hi: int, seq_len: int,
                batch_seqs: int, stride: int = 0, rank: int = 0, world_size: int = 1,
                autocast=contextlib.nullcontext, fixed_shapes: bool = False) -> Totals:
    """This rank's share of the windows scoring targets [lo, hi). `fixed_shapes` pads the last
    batch to batch_seqs windows so a compiled model sees one shape."""
    device = tables.base_bytes.device
    starts, scored_from, scored_to = score_windows(lo, hi, seq_len, stride)
    share = slice(len(starts) * rank // world_size, len(starts) * (rank + 1) // world_size)
    starts, scored_from, scored_to = starts[share], scored_from[share], scored_to[share]
    positions = torch.arange(seq_len)
    totals = Totals.zeros(device)
    for b in range(0, len(starts), batch_seqs):
        batch_starts, batch_from, batch_to = starts[b : b + batch_seqs], scored_from[b : b + batch_seqs], scored_to[b : b + batch_seqs]
        pad = batch_seqs - len(batch_starts) if fixed_shapes else 0
        if pad:
            batch_starts = torch.cat((batch_starts, batch_starts[-1:].expand(pad)))
            batch_from = torch.cat((batch_from, torch.full((pad,), seq_len)))
            batch_to = torch.cat((batch_to, torch.full((pad,), seq_len)))
        index = batch_starts[:, None] + positions[None, :]
        x = val_tokens[index].to(device, torch.long, non_blocking=True)
        y = val_tokens[index + 1].to(device, torch.long, non_blocking=True)
        mask = ((positions[None, :] >= batch_from[:, None]) & (positions[None, :] < batch_to[:, None])).to(device)
        with autocast():
            nll = model(x, y, reduction="none")
        totals.values[0] += (nll.double() * mask).sum()
        totals.values[1] += mask.sum()
        totals.values[2] += (tables.count(x, y) * mask).sum()
    return totals


def evaluate(model, val_tokens: torch.Tensor, tables: ByteTables, seq_len: int, batch_seqs: int, stride: int = 0,
             rank: int = 0, world_size: int = 1, autocast=contextlib.nullcontext, fixed_shapes: bool = False) -> EvalResult:
    """Score the full split; ranks share the windows and sum their totals."""
    device = tables.base_bytes.device
    t0 = time.perf_counter()
    totals = score_range(model, val_tokens, tables, 0, val_tokens.numel() - 1, seq_len, batch_seqs, stride,
                         rank, world_size, autocast, fixed_shapes)
    result = totals.result(0.0, world_size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    result.seconds = time.perf_counter() - t0
    return result
