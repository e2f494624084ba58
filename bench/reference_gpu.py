"""golf's trainer beside the reference scripts on one GPU: ms/step, peak memory and val_bpb after the
same number of steps, on the same data.

    python bench/reference_gpu.py prepare DATA              # here: golf's embedded sp1024 and sp8192 data
    python bench/reference_gpu.py run DATA LOGS [--pair baseline|frontier] [--reference DIR]   # on the GPU
    python bench/reference_gpu.py report LOGS               # read the logs with golf's own parser

`prepare` writes the community's layout (datasets/fineweb10B_spV, tokenizers/fineweb_V_bpe.model) from
the text that ships with Python, so the GPU machine needs no network. `run` trains the pairs one after
another, each run in its own process with the cap off, the same steps and a validation at the last one:

- baseline: golf's `baseline` preset and the official baseline_train_gpt.py (sp1024), decaying the learning
  rate over the same last steps;
- frontier: golf's `frontier` preset set back to the 2026-04-09 record's model and optimizer (no smear
  or attention gates, no LQER, its learning rates and clip) and that record's script (sp8192, TTT on).

The record script imports FlashAttention 3 (`flash_attn_interface`). Where it is not installed it gets a
stand-in that calls torch's scaled_dot_product_attention, the kernel golf itself falls back to, so that
both sides of a pair run the same attention.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
REFERENCE = REPO.parent / "shared" / "reference"
BASELINE_SCRIPT = "baseline_train_gpt.py"
RECORD_SCRIPT = "record_2026-04-09_sp8192_recur_parresid_ttt_train_gpt.py"

# golf's frontier preset follows the 2026-04-27 record; these settings make it the 2026-04-09 one
FRONTIER_AS_0409 = {
    "PARALLEL_START_LAYER": "7", "SMEAR_GATE_ENABLED": "0", "SPARSE_ATTN_GATE_ENABLED": "0",
    "MATRIX_LR": "0.022", "MIN_LR": "0", "MUON_MOMENTUM": "0.99", "BETA2": "0.95", "WARMDOWN_FRAC": "0.72",
    "EMBED_BITS": "8", "EMBED_CLIP_SIGMAS": "20", "MLP_CLIP_SIGMAS": "12.85", "ATTN_CLIP_SIGMAS": "12.85",
    "LQER_ENABLED": "0", "GPTQ_CALIBRATION_BATCHES": "64", "GPTQ_RESERVE_SECONDS": "0",
}
PAIRS = {
    # the official script decays over its last WARMDOWN_ITERS steps (1200, all of a short run); golf over a share
    "baseline": {"vocab": 1024, "steps": 100, "golf": {"PRESET": "baseline"}, "script": BASELINE_SCRIPT,
                 "script_env": {"WARMDOWN_ITERS": "9"}},  # golf's 0.087 of 100 steps
    "frontier": {"vocab": 8192, "steps": 40, "golf": {"PRESET": "frontier", **FRONTIER_AS_0409},
                 "script": RECORD_SCRIPT, "script_env": {"TTT_ENABLED": "1"}},
}
FLASH_STAND_IN = '''"""flash_attn_interface stand-in: torch's scaled_dot_product_attention, (B, T, H, D) in and out."""
import torch.nn.functional as F


def flash_attn_func(q, k, v, causal=True):
    y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal,
                                       enable_gqa=k.size(2) != q.size(2))
    return y.transpose(1, 2)
'''
PEAK_MEMORY = re.compile(r"peak(?: memory allocated:|_memory mib:)\s*(\d+)")


def prepare(data: Path) -> None:
    from trainer.data import prepare_embedded

    for vocab in (1024, 8192):
        made = prepare_embedded(data, vocab)  # golf's names (embedded_spV), then the community's
        dataset = data / "datasets" / f"fineweb10B_sp{vocab}"
        shutil.rmtree(dataset, ignore_errors=True)
        made.rename(dataset)
        (data / "tokenizers" / f"embedded_{vocab}_bpe.model").replace(data / "tokenizers" / f"fineweb_{vocab}_bpe.model")
    print(f"ready: {data}")


def _python_path(first: Path) -> str:
    return os.pathsep.join(p for p in (str(first), os.environ.get("PYTHONPATH", "")) if p)


def _train(name: str, command: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: int) -> None:
    started = time.perf_counter()
    with open(log, "w") as out:
        try:
            code = subprocess.run(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    print(f"{name}: exit {code} after {time.perf_counter() - started:.0f} s -> {log}", flush=True)


def run(data: Path, logs: Path, pairs: list[str], reference: Path, settings: dict[str, str], timeout: int) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        spec = PAIRS[pair]
        vocab, steps = spec["vocab"], spec["steps"]
        dataset = (data / "datasets" / f"fineweb10B_sp{vocab}").resolve()
        tokenizer = (data / "tokenizers" / f"fineweb_{vocab}_bpe.model").resolve()
        common = {"ITERATIONS": str(steps), "VAL_LOSS_EVERY": str(steps), "TRAIN_LOG_EVERY": "10", "SEED": "1337",
                  "VOCAB_SIZE": str(vocab), "DATA_PATH": str(dataset), "TOKENIZER_PATH": str(tokenizer), **settings}
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            env = {**os.environ, **common, **spec["golf"], "MAX_WALLCLOCK_SECONDS": "none", "RUN_ID": f"golf_{pair}",
                   "RUNS_DIR": str(work / "runs"), "PYTHONPATH": _python_path(REPO)}
            _train(f"golf {pair}", [sys.executable, "-m", "trainer"], env, work, logs / f"golf_{pair}.log", timeout)
            stand_in = work / "stand_in"
            stand_in.mkdir()
            if importlib.util.find_spec("flash_attn_interface") is None:
                (stand_in / "flash_attn_interface.py").write_text(FLASH_STAND_IN)
            script = work / spec["script"]
            shutil.copy(reference / spec["script"], script)
            env = {**os.environ, **common, **spec.get("script_env", {}), "MAX_WALLCLOCK_SECONDS": "0",
                   "RUN_ID": f"reference_{pair}", "DATA_DIR": str(data.resolve()), "PYTHONPATH": _python_path(stand_in)}
            _train(f"reference {pair}", [sys.executable, str(script)], env, work, logs / f"reference_{pair}.log", timeout)


def report(logs: Path) -> None:
    from leaderboard.logparse import parse_file

    rows = []
    for log in sorted(logs.glob("*.log")):
        run = parse_file(log).runs[-1]
        last = next((p for p in reversed(run.curve) if p.val_bpb is not None), None)
        peaks = [int(m.group(1)) for m in PEAK_MEMORY.finditer(log.read_text(errors="replace"))]
        rows.append({
            "log": log.name, "steps": run.steps, "train_time_s": run.train_time_s,
            "ms_per_step": round(1000 * run.train_time_s / run.steps, 1) if run.train_time_s and run.steps else None,
            "val_bpb_at_last_step": last.val_bpb if last else None,
            "val_bpb_before_quantization": next((st.val_bpb for st in run.stages if "pre" in st.name and "quant" in st.name), None),
            "score": run.score.val_bpb if run.score else None, "score_stage": run.score.name if run.score else None,
            "bytes_total": run.bytes_total, "peak_memory_mib": max(peaks, default=None), "gpu": run.gpu_name,
        })
    print(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("prepare", help="write the embedded sp1024 and sp8192 data in the community's layout").add_argument(
        "data", type=Path)
    running = verbs.add_parser("run", help="train each pair (on the GPU machine)")
    running.add_argument("data", type=Path)
    running.add_argument("logs", type=Path)
    running.add_argument("--pair", choices=sorted(PAIRS), action="append", help="only this pair (repeatable)")
    running.add_argument("--reference", type=Path, default=REFERENCE, help="the folder holding the reference scripts")
    running.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for both sides")
    running.add_argument("--timeout", type=int, default=290, help="seconds each training may take")
    verbs.add_parser("report", help="the figures of every log in LOGS, read by golf's parser").add_argument(
        "logs", type=Path)
    args = parser.parse_args()
    if args.verb == "prepare":
        prepare(args.data)
    elif args.verb == "run":
        run(args.data, args.logs, args.pair or list(PAIRS), args.reference, dict(kv.split("=", 1) for kv in args.set),
            args.timeout)
    else:
        report(args.logs)


if __name__ == "__main__":
    main()
