"""The optimizers and their schedules: Muon for block matrices, AdamW for the embeddings, an
untied head and every vector, gain and gate; one LR multiplier for all of them."""
from __future__ import annotations

import torch

from .config import Config
from .model import GPT, split_param_groups
from .muon import Muon


def effective_cap(cfg: Config) -> float | None:
    """Seconds the training loop may run: the cap less the reserve for calibration after it."""
    if cfg.max_wallclock_seconds is None:
        return None
    return cfg.max_wallclock_seconds - cfg.gptq_reserve_seconds


def progress(cfg: Config, step: int, elapsed_s: float) -> float:
    """How far the run is, in [0, 1]: the further along of steps and wall-clock time."""
    done = step / cfg.iterations
    cap = effective_cap(cfg)
    if cap is not None:
        done = max(done, elapsed_s / cap)
    return min(done, 1.0)


def lr_multiplier(cfg: Config, step: int, elapsed_s: float) -> float:
    """1.0, then a linear decay over the last warmdown_frac of the run, floored at MIN_LR."""
    if cfg.warmdown_frac <= 0:
        return 1.0
    decayed = (1.0 - progress(cfg, step, elapsed_s)) / cfg.warmdown_frac
    return min(1.0, max(cfg.min_lr, decayed))


def muon_momentum(cfg: Config, step: int) -> float:
    if cfg.muon_momentum_warmup_steps == 0:
        return cfg.muon_momentum
    frac = min(step / cfg.muon_momentum_warmup_steps, 1.0)
    return (1 - frac) * cfg.muon_momentum_warmup_start + frac * cfg.muon_momentum


def build_optimizers(cfg: Config, model: GPT, fused: bool) -> list[torch.optim.Optimizer]:
    def adamw(params, lr, weight_decay):
        return torch.optim.AdamW(
            [{"params": params, "lr": lr, "base_lr": lr}],
            betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, weight_decay=weight_decay, fused=fused,
        )

    matrices, scalars = split_param_groups(model)
    muon = Muon(matrices, lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps,
                weight_decay=cfg.muon_wd, row_normalize=cfg.muon_row_normalize, polar_express=cfg.polar_express_ns)
    for group in muon.param_groups:
        group["base_lr"] = cfg.matrix_lr
    embed_lr = cfg.tied_embed_lr if cfg.tie_embeddings else cfg.embed_lr
    optimizers = [adamw([model.tok_emb.weight], embed_lr, cfg.embed_wd), muon]
    if scalars:
        optimizers.append(adamw(scalars, cfg.scalar_lr, cfg.adam_wd))
    if model.lm_head is not None:
        optimizers.append(adamw([model.lm_head.weight], cfg.head_lr, 0.0))
    return optimizers
