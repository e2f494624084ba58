"""Typed trainer configuration, filled from the community's environment variables.

A named preset (PRESET=smoke|baseline) supplies defaults; any variable set in the
environment overrides the preset. Malformed values stop the run with one line
that names the variable.
"""
from __future__ import annotations

import dataclasses
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A configuration problem found before any training work starts."""


CHOICES = {
    "preset": ("smoke", "baseline"),
    "compressor": ("brotli", "zlib", "lzma"),
    "code_packing": ("plain", "minify", "lzma"),
    "device": ("auto", "cpu", "cuda"),
    "compile": ("auto", "0", "1"),
    "quant_bits": (6, 8),
    "quant_embed_bits": (6, 8),
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
    train_batch_tokens: int = 524_288
    train_seq_len: int = 1024
    train_microbatches: int = 8  # micro-batches per step across all ranks (grad accumulation x world size)
    max_wallclock_seconds: float | None = 600.0
    val_loss_every: int = 1000
    train_log_every: int = 200
    val_batch_size: int = 524_288
    eval_stride: int = 0  # 0: no sliding-window stage; else score with windows advancing by this many tokens
    eval_prequant: bool = True  # diagnostic eval of the trained weights before the artifact round trip

    # model
    vocab_size: int = 1024
    num_layers: int = 9
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_mult: int = 2
    tie_embeddings: bool = True
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    qk_gain_init: float = 1.5
    tied_embed_init_std: float = 0.005

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

    # artifact
    quant_bits: int = 8
    quant_embed_bits: int = 8
    compressor: str = "brotli"
    code_packing: str = "plain"

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id


PRESETS: dict[str, dict[str, object]] = {
    # The challenge's baseline: 9x512, SP1024, 524,288 tokens/step, 600 s cap.
    # warmdown_frac 0.087 ~ its 1200 warmdown steps out of ~13,780 at 43.5 ms/step on 8xH100.
    "baseline": {},
    # A CPU run on embedded data that finishes in about a minute on 2 cores.
    "smoke": {
        "iterations": 150,
        "warmup_steps": 2,
        "warmdown_frac": 0.3,
        "train_batch_tokens": 4096,
        "train_seq_len": 128,
        "train_microbatches": 2,
        "max_wallclock_seconds": 50.0,
        "val_loss_every": 50,
        "train_log_every": 10,
        "val_batch_size": 16384,
        "eval_stride": 64,
        "num_layers": 4,
        "model_dim": 128,
        "num_heads": 4,
        "num_kv_heads": 2,
        "muon_momentum_warmup_steps": 50,
        "tied_embed_lr": 0.03,
        "matrix_lr": 0.02,
        "scalar_lr": 0.02,
    },
}

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
        "muon_backend_steps", "train_log_every",
    )
    for attr in positive:
        if getattr(cfg, attr) <= 0:
            raise ConfigError(f"{ENV_NAMES[attr]}={getattr(cfg, attr)} must be positive")
    for attr in ("warmup_steps", "val_loss_every", "eval_stride", "muon_momentum_warmup_steps"):
        if getattr(cfg, attr) < 0:
            raise ConfigError(f"{ENV_NAMES[attr]}={getattr(cfg, attr)} must not be negative")
    if cfg.max_wallclock_seconds is not None and cfg.max_wallclock_seconds <= 0:
        raise ConfigError(
            f"MAX_WALLCLOCK_SECONDS={cfg.max_wallclock_seconds:g} must be positive "
            "(use MAX_WALLCLOCK_SECONDS=none for no cap)"
        )
    if not 0.0 <= cfg.warmdown_frac <= 1.0:
        raise ConfigError(f"WARMDOWN_FRAC={cfg.warmdown_frac:g} must be between 0 and 1")
    if cfg.vocab_size > 65536:
        raise ConfigError(f"VOCAB_SIZE={cfg.vocab_size} does not fit the shards' uint16 tokens")
    if cfg.model_dim % cfg.num_heads:
        raise ConfigError(f"NUM_HEADS={cfg.num_heads} does not divide MODEL_DIM={cfg.model_dim}")
    if (cfg.model_dim // cfg.num_heads) % 2:
        raise ConfigError(f"MODEL_DIM/NUM_HEADS={cfg.model_dim // cfg.num_heads} must be even for RoPE")
    if cfg.num_heads % cfg.num_kv_heads:
        raise ConfigError(f"NUM_KV_HEADS={cfg.num_kv_heads} does not divide NUM_HEADS={cfg.num_heads}")
    if cfg.eval_stride > cfg.train_seq_len:
        raise ConfigError(f"EVAL_STRIDE={cfg.eval_stride} exceeds TRAIN_SEQ_LEN={cfg.train_seq_len}")
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
