"""Typed trainer configuration, filled from the community's environment variables.

A named preset (PRESET=baseline|smoke|frontier|frontier-smoke, see presets.py) supplies
defaults; any variable set in the environment overrides the preset. Malformed values stop
the run with one line that names the variable.
"""
from __future__ import annotations

import dataclasses
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from .presets import PRESETS


class ConfigError(ValueError):
    """A configuration problem found before any training work starts."""


CHOICES = {
    "compressor": ("brotli", "zlib", "lzma"),
    "code_packing": ("plain", "minify", "lzma"),
    "device": ("auto", "cpu", "cuda"),
    "compile": ("auto", "0", "1"),
    "quant_method": ("rtn", "gptq"),
    "matrix_bits": (4, 5, 6, 7, 8),
    "embed_bits": (4, 5, 6, 7, 8),
    "lqer_factor_bits": (2, 3, 4, 5, 6, 7, 8),
}


@dataclass
class Config:
    preset: str = "baseline"
    seed: int = 1337
    run_id: str = ""
    data_dir: str = "./data"
    data_path: str = ""  # empty: the dataset `golf data` prepared under data_dir
    tokenizer_path: str = ""  # empty: the tokenizer that goes with data_path
    runs_dir: str = "./runs"
    device: str = "auto"
    compile: str = "auto"

    # schedule
    iterations: int = 20000
    warmup_steps: int = 20
    warmdown_frac: float = 0.087  # share of the run (time or steps, whichever is further) spent decaying LR
    min_lr: float = 0.0  # floor of the LR multiplier during warmdown
    train_batch_tokens: int = 524_288
    train_seq_len: int = 1024
    train_microbatches: int = 8  # micro-batches per step across all ranks (grad accumulation x world size)
    max_wallclock_seconds: float | None = 600.0
    val_loss_every: int = 1000
    train_log_every: int = 200
    val_batch_size: int = 524_288
    eval_stride: int = 0  # 0: no sliding-window stage; else score with windows advancing by this many tokens
    eval_prequant: bool = True  # diagnostic eval of the trained weights before the artifact round trip
    # score-first test-time training on the artifact's weights: chunks scored, then trained on
    ttt_enabled: bool = False
    ttt_lr: float = 0.005
    ttt_epochs: int = 3
    ttt_momentum: float = 0.9
    ttt_chunk_tokens: int = 32768
    ttt_batch_seqs: int = 32  # sequences per TTT optimizer step, across all ranks
    ttt_grad_clip: float = 1.0
    # the phased variant: documents scored in phases; after each, SGD on every document scored so far
    phased_ttt_enabled: bool = False
    phased_ttt_prefix_docs: int = 2000
    phased_ttt_num_phases: int = 3
    global_ttt_lr: float = 0.001
    global_ttt_momentum: float = 0.9
    global_ttt_epochs: int = 1

    # model
    vocab_size: int = 1024
    num_layers: int = 9
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_mult: float = 2.0
    tie_embeddings: bool = True
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    qk_gain_init: float = 1.5
    tied_embed_init_std: float = 0.005
    leaky_relu_sq_slope: float = 0.0  # MLP activation leaky_relu(x, slope)^2; 0 is the baseline's relu^2
    rope_dims: int = 0  # rotate only the first ROPE_DIMS dims of each head (0: all)
    ln_scale: bool = False  # scale each block's normed inputs by 1/sqrt(layer + 1)
    xsa_last_n: int = 0  # exclusive self-attention on the last N layers
    num_loops: int = 0  # depth recurrence: layers LOOP_START..LOOP_END run 1 + NUM_LOOPS times
    loop_start: int = 3
    loop_end: int = 5
    enable_looping_at: float = 0.35  # share of training after which the loop is switched on
    parallel_start_layer: int = 0  # two parallel residual lanes (attention, MLP) from this layer (0: off)
    skip_gates_enabled: bool = False  # sigmoid-gated U-Net skips
    smear_gate_enabled: bool = False  # mix the previous token's embedding in, never across a BOS
    gate_window: int = 12  # leading residual dims that drive the smear and attention gates
    sparse_attn_gate_enabled: bool = False  # per-head sigmoid gate on the attention output
    sparse_attn_gate_scale: float = 1.0
    ortho_init: bool = False  # orthogonal init of block matrices, output projections zero

    # optimizer
    embed_lr: float = 0.6
    head_lr: float = 0.008
    tied_embed_lr: float = 0.05
    matrix_lr: float = 0.04
    scalar_lr: float = 0.04
    muon_momentum: float = 0.95
    muon_backend_steps: int = 5
    muon_momentum_warmup_start: float = 0.85
    muon_momentum_warmup_steps: int = 500
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip_norm: float = 0.0
    muon_row_normalize: bool = False  # MuonEq-R: each row of the update normalized before Newton-Schulz
    polar_express_ns: bool = False  # per-iteration Polar Express coefficients for Newton-Schulz
    muon_wd: float = 0.0  # decoupled weight decay: Muon matrices, scalars (Adam), embeddings
    adam_wd: float = 0.0
    embed_wd: float = 0.0
    ema_decay: float = 0.0  # EMA of the weights, applied before quantization (0: off)

    # artifact
    quant_method: str = "rtn"  # rtn: round to nearest; gptq: full-Hessian GPTQ on training batches
    matrix_bits: int = 8
    embed_bits: int = 8
    matrix_clip_sigmas: float = 0.0  # SDClip: clip rows at k standard deviations (0: at the row's max)
    mlp_clip_sigmas: float = 0.0  # per kind; 0 falls back to MATRIX_CLIP_SIGMAS
    attn_clip_sigmas: float = 0.0
    embed_clip_sigmas: float = 0.0
    gptq_calibration_batches: int = 16
    gptq_reserve_seconds: float = 0.0  # the training loop stops this much before the cap, for calibration
    lqer_enabled: bool = False  # low-rank correction of the largest quantization errors
    lqer_rank: int = 4
    lqer_top_k: int = 3
    lqer_factor_bits: int = 4
    compressor: str = "brotli"
    code_packing: str = "plain"

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id


ENV_NAMES = {f.name: f.name.upper() for f in dataclasses.fields(Config)}


def _parse(name: str, raw: str, kind: str) -> object:
    text = raw.strip()
    try:
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "int":
            return int(text.replace("_", ""))
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind == "optional_float":
            if text.lower() in ("none", "inf", "unlimited"):
                return None
            value = float(text)
            if math.isnan(value):
                raise ValueError
            return value
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.replace('_', ' ')}") from None
    return text


def _kind(f: dataclasses.Field) -> str:
    annotation = str(f.type)
    if annotation == "bool":
        return "bool"
    if annotation == "int":
        return "int"
    if annotation == "float":
        return "float"
    if annotation == "float | None":
        return "optional_float"
    return "str"


def load_config(env: dict[str, str] | None = None) -> Config:
    """Build the config from a preset plus environment overrides, then validate it."""
    env = dict(os.environ if env is None else env)
    preset = env.get("PRESET", "baseline").strip() or "baseline"
    if preset not in PRESETS:
        raise ConfigError(f"PRESET={preset!r} is unknown; choose one of {', '.join(PRESETS)}")
    values: dict[str, object] = {"preset": preset, **PRESETS[preset]}
    for f in dataclasses.fields(Config):
        if f.name == "preset":
            continue
        name = ENV_NAMES[f.name]
        if name in env and env[name].strip() != "":
            values[f.name] = _parse(name, env[name], _kind(f))
    cfg = Config(**values)  # type: ignore[arg-type]
    if not cfg.run_id:
        cfg.run_id = f"{preset}-s{cfg.seed}-{uuid.uuid4().hex[:8]}"
    validate(cfg)
    return cfg


def _require(ok: bool, attr: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"{ENV_NAMES[attr]}={value} {why}")


def validate(cfg: Config) -> None:
    for attr, allowed in CHOICES.items():
        value = getattr(cfg, attr)
        if value not in allowed:
            raise ConfigError(
                f"{ENV_NAMES[attr]}={value!r} is unknown; choose one of {', '.join(map(str, allowed))}"
            )
    positive = (
        "iterations", "train_batch_tokens", "train_seq_len", "train_microbatches", "val_batch_size",
        "vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult",
        "muon_backend_steps", "train_log_every", "gate_window", "gptq_calibration_batches", "lqer_rank",
        "ttt_epochs", "ttt_chunk_tokens", "ttt_batch_seqs", "phased_ttt_num_phases", "global_ttt_epochs",
    )
    for attr in positive:
        _require(getattr(cfg, attr) > 0, attr, getattr(cfg, attr), "must be positive")
    not_negative = (
        "warmup_steps", "val_loss_every", "eval_stride", "muon_momentum_warmup_steps", "leaky_relu_sq_slope",
        "rope_dims", "xsa_last_n", "num_loops", "parallel_start_layer", "muon_wd", "adam_wd", "embed_wd",
        "matrix_clip_sigmas", "mlp_clip_sigmas", "attn_clip_sigmas", "embed_clip_sigmas", "gptq_reserve_seconds",
        "lqer_top_k", "ttt_lr", "ttt_momentum", "ttt_grad_clip", "phased_ttt_prefix_docs", "global_ttt_lr",
        "global_ttt_momentum", "grad_clip_norm",
    )
    for attr in not_negative:
        _require(getattr(cfg, attr) >= 0, attr, getattr(cfg, attr), "must not be negative")
    for attr in ("warmdown_frac", "min_lr", "enable_looping_at"):
        _require(0.0 <= getattr(cfg, attr) <= 1.0, attr, f"{getattr(cfg, attr):g}", "must be between 0 and 1")
    _require(0.0 <= cfg.ema_decay < 1.0, "ema_decay", f"{cfg.ema_decay:g}", "must be in [0, 1) (0: off)")
    if cfg.max_wallclock_seconds is not None and cfg.max_wallclock_seconds <= 0:
        raise ConfigError(
            f"MAX_WALLCLOCK_SECONDS={cfg.max_wallclock_seconds:g} must be positive "
            "(use MAX_WALLCLOCK_SECONDS=none for no cap)"
        )
    if cfg.max_wallclock_seconds is not None:
        _require(cfg.gptq_reserve_seconds < cfg.max_wallclock_seconds, "gptq_reserve_seconds",
                 f"{cfg.gptq_reserve_seconds:g}", f"must be below MAX_WALLCLOCK_SECONDS={cfg.max_wallclock_seconds:g}")
    _require(cfg.vocab_size <= 65536, "vocab_size", cfg.vocab_size, "does not fit the shards' uint16 tokens")
    if cfg.model_dim % cfg.num_heads:
        raise ConfigError(f"NUM_HEADS={cfg.num_heads} does not divide MODEL_DIM={cfg.model_dim}")
    head_dim = cfg.model_dim // cfg.num_heads
    if head_dim % 2:
        raise ConfigError(f"MODEL_DIM/NUM_HEADS={head_dim} must be even for RoPE")
    if cfg.num_heads % cfg.num_kv_heads:
        raise ConfigError(f"NUM_KV_HEADS={cfg.num_kv_heads} does not divide NUM_HEADS={cfg.num_heads}")
    _require(int(cfg.mlp_mult * cfg.model_dim) > 0, "mlp_mult", f"{cfg.mlp_mult:g}", "leaves the MLP no hidden units")
    _require(cfg.rope_dims % 2 == 0 and cfg.rope_dims <= head_dim, "rope_dims", cfg.rope_dims,
             f"must be even and at most the head dim {head_dim}")
    _require(cfg.xsa_last_n <= cfg.num_layers, "xsa_last_n", cfg.xsa_last_n, f"exceeds NUM_LAYERS={cfg.num_layers}")
    _require(cfg.parallel_start_layer < cfg.num_layers, "parallel_start_layer", cfg.parallel_start_layer,
             f"must be below NUM_LAYERS={cfg.num_layers} (0: off)")
    if cfg.num_loops:
        _require(0 <= cfg.loop_start <= cfg.loop_end < cfg.num_layers, "loop_end", cfg.loop_end,
                 f"needs 0 <= LOOP_START={cfg.loop_start} <= LOOP_END < NUM_LAYERS={cfg.num_layers}")
    _require(cfg.gate_window <= cfg.model_dim, "gate_window", cfg.gate_window, f"exceeds MODEL_DIM={cfg.model_dim}")
    if cfg.eval_stride > cfg.train_seq_len:
        raise ConfigError(f"EVAL_STRIDE={cfg.eval_stride} exceeds TRAIN_SEQ_LEN={cfg.train_seq_len}")
    if cfg.ttt_enabled or cfg.phased_ttt_enabled:
        _require(cfg.ttt_chunk_tokens >= cfg.train_seq_len, "ttt_chunk_tokens", cfg.ttt_chunk_tokens,
                 f"must hold at least one sequence of TRAIN_SEQ_LEN={cfg.train_seq_len}")
    if "/" in cfg.run_id or cfg.run_id in (".", ".."):
        raise ConfigError(f"RUN_ID={cfg.run_id!r} must be a plain name, not a path")


def grad_accum_steps(cfg: Config, world_size: int) -> int:
    """Micro-batches each rank runs per step; fails unless the batch splits evenly."""
    if cfg.train_microbatches % world_size:
        raise ConfigError(
            f"world size {world_size} does not divide TRAIN_MICROBATCHES={cfg.train_microbatches}"
        )
    accum = cfg.train_microbatches // world_size
    per_micro = world_size * accum * cfg.train_seq_len
    if cfg.train_batch_tokens % per_micro:
        raise ConfigError(
            f"TRAIN_BATCH_TOKENS={cfg.train_batch_tokens} is not divisible by world size {world_size} "
            f"x {accum} micro-batches x TRAIN_SEQ_LEN={cfg.train_seq_len} (= {per_micro})"
        )
    return accum


def config_items(cfg: Config) -> list[tuple[str, object]]:
    return [(f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg)]
