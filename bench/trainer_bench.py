"""Training throughput of the reference trainer on this machine: ms/step, tokens/s, peak memory.

Synthetic tokens, so no dataset is needed. Settings come from a preset plus KEY=VALUE overrides,
exactly as the trainer reads them:

    python bench/trainer_bench.py --preset baseline --steps 30
    python bench/trainer_bench.py --preset smoke --steps 20 NUM_LAYERS=2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.config import grad_accum_steps, load_config  # noqa: E402
from trainer.runtime import RunLog, init_runtime  # noqa: E402
from trainer.train import Trainer  # noqa: E402


class SyntheticLoader:
    def __init__(self, vocab_size: int, rank: int, world_size: int, device: torch.device):
        self.vocab_size, self.world_size, self.device = vocab_size, world_size, device
        self.gen = torch.Generator().manual_seed(rank)

    def next_batch(self, batch_tokens: int, seq_len: int, accum: int):
        local = batch_tokens // (self.world_size * accum)
        tokens = torch.randint(0, self.vocab_size, (local + 1,), generator=self.gen).to(self.device)
        return tokens[:-1].view(-1, seq_len), tokens[1:].view(-1, seq_len)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="smoke", choices=("smoke", "baseline"))
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocation)")
    parser.add_argument("overrides", nargs="*", help="trainer settings as KEY=VALUE")
    args = parser.parse_args()
    env = {**os.environ, "PRESET": args.preset, "RUN_ID": "bench", **dict(o.split("=", 1) for o in args.overrides)}
    cfg = load_config(env)
    rt = init_runtime(cfg)
    trainer = Trainer(cfg, rt, RunLog(None))
    trainer.accum = grad_accum_steps(cfg, rt.world_size)
    trainer.loader = SyntheticLoader(cfg.vocab_size, rt.rank, rt.world_size, rt.device)
    trainer.build_model()
    for _ in range(args.warmup):
        trainer.train_step(0, 0.0)
    rt.sync()
    if rt.cuda:
        torch.cuda.reset_peak_memory_stats(rt.device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss, _ = trainer.train_step(0, 0.0)
    loss.item()
    rt.sync()
    seconds = time.perf_counter() - t0
    if rt.is_main:
        ms_per_step = seconds * 1000 / args.steps
        print(json.dumps({
            "preset": cfg.preset, "device": rt.device_name(), "world_size": rt.world_size,
            "compile": rt.compile, "params": sum(p.numel() for p in trainer.model.parameters()),
            "tokens_per_step": cfg.train_batch_tokens, "grad_accum_steps": trainer.accum,
            "ms_per_step": round(ms_per_step, 2),
            "tokens_per_s": round(cfg.train_batch_tokens / (ms_per_step / 1000)),
            "tokens_per_s_per_process": round(cfg.train_batch_tokens / (ms_per_step / 1000) / rt.world_size),
            "peak_memory_mib": round(rt.peak_memory_mib()),
            "peak_memory_kind": "cuda_allocated" if rt.cuda else "cpu_rss",
            "torch": torch.__version__,
        }, indent=2))


if __name__ == "__main__":
    main()
