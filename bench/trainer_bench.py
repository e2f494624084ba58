"""Speed of the reference trainer on this machine.

Training: ms/step, tokens/s, peak memory, on synthetic tokens (no dataset needed). Evaluation
(--eval): a full validation pass of golf's evaluate() against the official baseline script's
eval_val() on the same weights and tokens, interleaved, with the ratio of their times. Settings
come from a preset plus KEY=VALUE overrides, exactly as the trainer reads them:

    python bench/trainer_bench.py --preset baseline --steps 30
    python bench/trainer_bench.py --preset frontier-smoke --steps 20 NUM_LAYERS=2
    python bench/trainer_bench.py --eval --preset baseline --val-tokens 65536
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainer.config import PRESETS, grad_accum_steps, load_config  # noqa: E402
from trainer.evaluate import evaluate  # noqa: E402
from trainer.model import GPT  # noqa: E402
from trainer.runtime import RunLog, init_runtime  # noqa: E402
from trainer.tokenizer_bytes import ByteTables  # noqa: E402
from trainer.train import Trainer  # noqa: E402

OFFICIAL = REPO.parent / "shared" / "reference" / "baseline_train_gpt.py"


class SyntheticLoader:
    def __init__(self, vocab_size: int, rank: int, world_size: int, device: torch.device):
        self.vocab_size, self.world_size, self.device = vocab_size, world_size, device
        self.gen = torch.Generator().manual_seed(rank)

    def next_batch(self, batch_tokens: int, seq_len: int, accum: int):
        local = batch_tokens // (self.world_size * accum)
        tokens = torch.randint(0, self.vocab_size, (local + 1,), generator=self.gen).to(self.device)
        return tokens[:-1].view(-1, seq_len), tokens[1:].view(-1, seq_len)


def bench_training(cfg, rt, steps: int, warmup: int) -> dict:
    trainer = Trainer(cfg, rt, RunLog(None))
    trainer.accum = grad_accum_steps(cfg, rt.world_size)
    trainer.loader = SyntheticLoader(cfg.vocab_size, rt.rank, rt.world_size, rt.device)
    trainer.build_model()
    trainer.model.looping_active = cfg.num_loops > 0  # time the model as it trains most of the run
    for _ in range(warmup):
        trainer.train_step(0, 0.0)
    rt.sync()
    if rt.cuda:
        torch.cuda.reset_peak_memory_stats(rt.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss, _ = trainer.train_step(0, 0.0)
    loss.item()
    rt.sync()
    ms_per_step = (time.perf_counter() - t0) * 1000 / steps
    return {
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "tokens_per_step": cfg.train_batch_tokens, "grad_accum_steps": trainer.accum,
        "ms_per_step": round(ms_per_step, 2),
        "tokens_per_s": round(cfg.train_batch_tokens / (ms_per_step / 1000)),
        "tokens_per_s_per_process": round(cfg.train_batch_tokens / (ms_per_step / 1000) / rt.world_size),
        "peak_memory_mib": round(rt.peak_memory_mib()),
        "peak_memory_kind": "cuda_allocated" if rt.cuda else "cpu_rss",
    }


def bench_eval(cfg, rt, val_tokens: int, repeats: int, official_path: Path) -> dict:
    """Both full passes on one model's weights: golf's evaluate and the official eval_val."""
    if not official_path.is_file():
        raise SystemExit(f"error: the official script is not at {official_path} (--official)")
    spec = importlib.util.spec_from_file_location("official_baseline", official_path)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    torch.manual_seed(0)
    model = GPT(cfg).to(rt.device)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    theirs = official.GPT(
        vocab_size=cfg.vocab_size, num_layers=cfg.num_layers, model_dim=cfg.model_dim, num_heads=cfg.num_heads,
        num_kv_heads=cfg.num_kv_heads, mlp_mult=int(cfg.mlp_mult), tie_embeddings=cfg.tie_embeddings,
        tied_embed_init_std=cfg.tied_embed_init_std, logit_softcap=cfg.logit_softcap, rope_base=cfg.rope_base,
        qk_gain_init=cfg.qk_gain_init).to(rt.device)
    theirs.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(1)
    n = (val_tokens // cfg.train_seq_len) * cfg.train_seq_len
    tokens = torch.randint(0, cfg.vocab_size, (n + 1,), generator=g, dtype=torch.int32)
    tables = ByteTables(torch.randint(1, 6, (cfg.vocab_size,), generator=g, dtype=torch.int32),
                        torch.rand(cfg.vocab_size, generator=g) < 0.5, torch.zeros(cfg.vocab_size, dtype=torch.bool))
    tables = tables.to(rt.device)
    args = official.Hyperparameters()
    args.val_batch_size, args.train_seq_len = cfg.val_batch_size, cfg.train_seq_len
    accum = grad_accum_steps(cfg, rt.world_size)
    batch_seqs = max(1, cfg.val_batch_size // (cfg.train_microbatches * cfg.train_seq_len))
    times = {"golf": [], "official": []}
    cpu = {"golf": [], "official": []}  # process CPU seconds: steadier than wall time on a busy machine
    for _ in range(repeats):
        model.eval()
        t0, c0 = time.perf_counter(), time.process_time()
        ours = evaluate(model, tokens, tables, cfg.train_seq_len, batch_seqs, rank=rt.rank, world_size=rt.world_size,
                        autocast=rt.autocast)
        times["golf"].append(time.perf_counter() - t0)
        cpu["golf"].append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        loss, bpb = official.eval_val(args, theirs, rt.rank, rt.world_size, rt.device, accum, tokens,
                                      tables.base_bytes, tables.has_leading_space, tables.is_boundary)
        rt.sync()
        times["official"].append(time.perf_counter() - t0)
        cpu["official"].append(time.process_time() - c0)
    return {
        "val_tokens": n, "windows_per_forward": batch_seqs, "repeats": repeats,
        "golf_s": {"min": round(min(times["golf"]), 3), "median": round(statistics.median(times["golf"]), 3)},
        "official_s": {"min": round(min(times["official"]), 3), "median": round(statistics.median(times["official"]), 3)},
        "ratio_golf_over_official_min": round(min(times["golf"]) / min(times["official"]), 3),
        "cpu_s": {name: round(statistics.median(v), 3) for name, v in cpu.items()},
        "ratio_golf_over_official_cpu_median": round(statistics.median(cpu["golf"]) / statistics.median(cpu["official"]), 3),
        "val_loss": {"golf": ours.val_loss, "official": loss},
        "val_bpb": {"golf": ours.val_bpb, "official": bpb},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="smoke", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocation)")
    parser.add_argument("--eval", action="store_true", help="time a validation pass against the official script's")
    parser.add_argument("--val-tokens", type=int, default=65536, help="tokens of the synthetic split (--eval)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved passes of each (--eval)")
    parser.add_argument("--official", type=Path, default=OFFICIAL, help="baseline_train_gpt.py (--eval)")
    parser.add_argument("overrides", nargs="*", help="trainer settings as KEY=VALUE")
    args = parser.parse_args()
    env = {**os.environ, "PRESET": args.preset, "RUN_ID": "bench", **dict(o.split("=", 1) for o in args.overrides)}
    cfg = load_config(env)
    rt = init_runtime(cfg)
    if args.eval:
        figures = bench_eval(cfg, rt, args.val_tokens, args.repeats, args.official)
    else:
        figures = bench_training(cfg, rt, args.steps, args.warmup)
    if rt.is_main:
        print(json.dumps({"preset": cfg.preset, "device": rt.device_name(), "world_size": rt.world_size,
                          "compile": rt.compile, "threads": torch.get_num_threads(), **figures,
                          "torch": torch.__version__}, indent=2))


if __name__ == "__main__":
    main()
