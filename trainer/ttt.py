"""Score-first test-time training on the validation stream (DESIGN's conditions C1-C4).

A plan cuts the targets 0..N-1 into segments that partition them, in order. Each segment is
first scored with the current weights (evaluate.score_range: causal windows, every target once),
and only then may the weights train on targets that are already scored. Two plans:

- chunks (TTT_ENABLED; the 2026-04-09 record, PR #549/#1413): TTT_CHUNK_TOKENS-target chunks;
  after scoring chunk i, SGD on chunk i for TTT_EPOCHS epochs, the LR on a cosine over chunks;
  the last chunk is not trained on.
- phases (PHASED_TTT_ENABLED; PR #1610/#1626, the 2026-04-27 record's global phases): the first
  PHASED_TTT_PREFIX_DOCS documents in PHASED_TTT_NUM_PHASES phases; after scoring a phase, SGD
  on every document scored so far (GLOBAL_TTT_*); the remaining documents are scored last.

Every rank scores its share of each segment's windows and trains on its share of each batch of
sequences, with gradients summed across ranks, so every rank holds the same weights.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist

from .evaluate import EvalResult, Totals, score_range
from .tokenizer_bytes import ByteTables


@dataclass(frozen=True)
class Segment:
    lo: int  # targets [lo, hi) are scored with the weights as they are
    hi: int
    train: tuple[tuple[int, int, float], ...] = ()  # then (lo, hi, lr): ranges trained on, in order, all scored by now
    fresh_optimizer: bool = False  # momentum restarts before this segment's training


def cosine(lr: float, i: int, n: int) -> float:
    """lr at step i of n, decaying on a half cosine from lr to 0."""
    return lr * 0.5 * (1 + math.cos(math.pi * i / max(n - 1, 1)))


def chunk_plan(num_targets: int, chunk: int, lr: float) -> list[Segment]:
    bounds = list(range(0, num_targets, chunk)) + [num_targets]
    n = len(bounds) - 1
    return [Segment(lo, hi, ((lo, hi, cosine(lr, i, n)),) if i < n - 1 else (), i == 0)
            for i, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]


def document_starts(val_tokens: torch.Tensor, bos_id: int) -> list[int]:
    """The first target of each document: with BOS at token p, target p predicts its first token."""
    return (val_tokens[:-1] == bos_id).nonzero().flatten().tolist()


def phased_plan(num_targets: int, doc_starts: list[int], prefix_docs: int, phases: int, lr: float,
                chunk: int) -> list[Segment]:
    """Phases of documents, each followed by SGD on every document scored so far (in chunks, the LR on a
    cosine over them, momentum fresh per phase); then the remaining documents, scored only."""
    prefix = min(prefix_docs, len(doc_starts))
    segments, lo = [], 0
    for p in range(phases):
        end_doc = prefix * (p + 1) // phases
        cut = doc_starts[end_doc] if end_doc < len(doc_starts) else num_targets
        if cut <= lo:
            continue
        bounds = list(range(0, cut, chunk)) + [cut]
        n = len(bounds) - 1
        segments.append(Segment(lo, cut, tuple((a, b, cosine(lr, i, n)) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))),
                                True))
        lo = cut
    if lo < num_targets:
        segments.append(Segment(lo, num_targets))
    return segments


@dataclass
class TTTSettings:
    seq_len: int
    stride: int
    eval_batch_seqs: int  # windows per scoring forward
    train_batch_seqs: int  # sequences per optimizer step, across all ranks
    epochs: int
    momentum: float
    grad_clip: float


def _train_range(model, optimizer, val_tokens: torch.Tensor, lo: int, hi: int, s: TTTSettings, rank: int,
                 world_size: int, autocast: Callable, device: torch.device) -> None:
    """SGD on the whole sequences of targets [lo, hi): each step averages a global batch of sequences."""
    params = [p for p in model.parameters() if p.requires_grad]
    count = (hi - lo) // s.seq_len
    for _ in range(s.epochs):
        for b in range(0, count, s.train_batch_seqs):
            batch = list(range(b, min(b + s.train_batch_seqs, count)))
            mine = batch[rank::world_size]
            optimizer.zero_grad(set_to_none=True)
            if mine:
                starts = torch.tensor(mine) * s.seq_len + lo
                index = starts[:, None] + torch.arange(s.seq_len)[None, :]
                x = val_tokens[index].to(device, torch.long)
                y = val_tokens[index + 1].to(device, torch.long)
                with autocast():
                    loss = model(x, y, reduction="none").sum() / (len(batch) * s.seq_len)
                loss.backward()
            for p in params:  # ranks without sequences contribute zeros
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            if world_size > 1:
                for p in params:
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            if s.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, s.grad_clip)
            optimizer.step()


def score_first_ttt(model, val_tokens: torch.Tensor, tables: ByteTables, plan: list[Segment], s: TTTSettings,
                    rank: int = 0, world_size: int = 1, autocast: Callable = contextlib.nullcontext,
                    fixed_shapes: bool = False, progress: Callable[[int, Segment], None] | None = None,
                    segment_totals: list | None = None) -> EvalResult:
    """Run the plan: score each segment, then train on what it allows. Returns the whole split's score.
    `segment_totals`, when given, receives each segment's own score (all ranks), for tests."""
    device = tables.base_bytes.device
    t0 = time.perf_counter()
    totals = Totals.zeros(device)
    optimizer = None
    was_training = model.training
    try:
        for i, seg in enumerate(plan):
            model.eval()
            part = score_range(model, val_tokens, tables, seg.lo, seg.hi, s.seq_len, s.eval_batch_seqs, s.stride,
                               rank, world_size, autocast, fixed_shapes)
            totals.values += part.values
            if segment_totals is not None:
                segment_totals.append(part.result(0.0, world_size))
            if seg.train:
                model.train()
                if optimizer is None or seg.fresh_optimizer:
                    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=s.momentum)
                for lo, hi, lr in seg.train:
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    _train_range(model, optimizer, val_tokens, lo, hi, s, rank, world_size, autocast, device)
            if progress is not None:
                progress(i, seg)
    finally:
        model.train(was_training)
    result = totals.result(0.0, world_size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    result.seconds = time.perf_counter() - t0
    return result
