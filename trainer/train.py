"""The training run: preflight checks, warmup, the capped training loop, the artifact,
and the evaluation stages that produce the score and result.json."""
from __future__ import annotations

import copy
import json
import random
import time
import traceback

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from .artifact import ArtifactError, load_artifact, save_artifact, write_atomic
from .codesize import code_bytes
from .config import Config, ConfigError, config_items, grad_accum_steps, load_config
from .evaluate import EvalResult, evaluate
from .model import GPT, load_flash_attention, split_param_groups
from .muon import Muon, newton_schulz5
from .quantize import dequantize_state_dict, quantize_state_dict
from .runtime import RunLog, Runtime, fail, init_runtime, shutdown
from .shards import DistributedTokenLoader, ShardError, load_validation_tokens, resolve_data_paths, shard_files
from .tokenizer_bytes import TokenizerError, build_byte_tables, load_tokenizer

TRAINER_VERSION = "0.1.0"


def lr_multiplier(cfg: Config, step: int, elapsed_s: float) -> float:
    """1.0, then a linear decay to 0 over the last warmdown_frac of the run, where
    progress is the further along of steps and wall-clock time."""
    if cfg.warmdown_frac <= 0:
        return 1.0
    progress = step / cfg.iterations
    if cfg.max_wallclock_seconds is not None:
        progress = max(progress, elapsed_s / cfg.max_wallclock_seconds)
    return min(1.0, max(0.0, (1.0 - progress) / cfg.warmdown_frac))


def muon_momentum(cfg: Config, step: int) -> float:
    if cfg.muon_momentum_warmup_steps == 0:
        return cfg.muon_momentum
    frac = min(step / cfg.muon_momentum_warmup_steps, 1.0)
    return (1 - frac) * cfg.muon_momentum_warmup_start + frac * cfg.muon_momentum


def build_optimizers(cfg: Config, model: GPT, fused: bool) -> list[torch.optim.Optimizer]:
    def adam(params, lr):
        return torch.optim.Adam(
            [{"params": params, "lr": lr, "base_lr": lr}],
            betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, fused=fused,
        )

    matrices, scalars = split_param_groups(model)
    muon = Muon(matrices, lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps)
    for group in muon.param_groups:
        group["base_lr"] = cfg.matrix_lr
    optimizers = [adam([model.tok_emb.weight], cfg.tied_embed_lr if cfg.tie_embeddings else cfg.embed_lr), muon]
    if scalars:
        optimizers.append(adam(scalars, cfg.scalar_lr))
    if model.lm_head is not None:
        optimizers.append(adam([model.lm_head.weight], cfg.head_lr))
    return optimizers


class Trainer:
    def __init__(self, cfg: Config, rt: Runtime, log: RunLog):
        self.cfg, self.rt, self.log = cfg, rt, log
        self.stages: list[dict] = []

    # ---- preflight: everything that can be wrong is found before the model exists
    def prepare(self) -> None:
        cfg, rt = self.cfg, self.rt
        self.accum = grad_accum_steps(cfg, rt.world_size)
        self.dataset, tokenizer_path = resolve_data_paths(cfg.data_dir, cfg.data_path, cfg.tokenizer_path, cfg.vocab_size)
        self.tables = build_byte_tables(load_tokenizer(tokenizer_path, cfg.vocab_size)).to(rt.device)
        self.val_tokens = load_validation_tokens(self.dataset, cfg.train_seq_len, cfg.vocab_size)
        self.train_files = shard_files(self.dataset, "train")
        self.loader = DistributedTokenLoader(self.train_files, cfg.vocab_size, rt.rank, rt.world_size, rt.device)
        self.bytes_code = code_bytes(cfg.code_packing)
        self.log(
            f"golf_trainer version:{TRAINER_VERSION} run_id:{cfg.run_id} preset:{cfg.preset} seed:{cfg.seed} "
            f"device:{rt.device.type} device_name:{rt.device_name().replace(' ', '_')} world_size:{rt.world_size} "
            f"torch:{torch.__version__} compile:{int(rt.compile)}"
        )
        self.log("config " + " ".join(f"{k}:{v}" for k, v in config_items(cfg)))
        self.log(
            f"data dataset:{self.dataset} tokenizer:{tokenizer_path} train_shards:{len(self.train_files)} "
            f"val_tokens:{self.val_tokens.numel() - 1} grad_accum_steps:{self.accum}"
        )
        self.log(f"code bytes_code:{self.bytes_code} packing:{cfg.code_packing}")

    def build_model(self) -> None:
        cfg, rt = self.cfg, self.rt
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.model = GPT(cfg).to(rt.device)
        if rt.cuda:
            self.model.tok_emb.to(torch.bfloat16)
            flash = load_flash_attention()
            if flash is not None:
                self.model.use_flash_attention(flash)
        self.log(
            f"model params:{sum(p.numel() for p in self.model.parameters())} layers:{cfg.num_layers} "
            f"dim:{cfg.model_dim} heads:{cfg.num_heads} kv_heads:{cfg.num_kv_heads} vocab:{cfg.vocab_size} "
            f"attention:{'flash' if rt.cuda and self.model.blocks[0].attn.flash_attn else 'sdpa'}"
        )
        self.forward = torch.compile(self.model, dynamic=False) if rt.compile else self.model
        self.train_model = self.forward
        if rt.distributed:
            self.train_model = DistributedDataParallel(
                self.forward, device_ids=[rt.local_rank] if rt.cuda else None, broadcast_buffers=False
            )
        self.optimizers = build_optimizers(cfg, self.model, fused=rt.cuda)
        if rt.compile:
            for opt in self.optimizers:
                if isinstance(opt, Muon):
                    opt.orthogonalize = torch.compile(newton_schulz5)

    # ---- training
    def train_step(self, step: int, elapsed_s: float) -> tuple[torch.Tensor, float]:
        cfg = self.cfg
        mul = lr_multiplier(cfg, step, elapsed_s)
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * mul
                if isinstance(opt, Muon):
                    group["momentum"] = muon_momentum(cfg, step)
            opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.rt.device)
        for micro in range(self.accum):
            x, y = self.loader.next_batch(cfg.train_batch_tokens, cfg.train_seq_len, self.accum)
            if self.rt.distributed:
                self.train_model.require_backward_grad_sync = micro == self.accum - 1
            with self.rt.autocast():
                loss = self.train_model(x, y)
            (loss / self.accum).backward()
            total += loss.detach()
        if cfg.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip_norm)
        for opt in self.optimizers:
            opt.step()
        return total / self.accum, mul

    def warmup(self) -> None:
        """Run a few real steps to compile and allocate, then restore the initial state and data order."""
        cfg = self.cfg
        if cfg.warmup_steps == 0:
            return
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        opt_states = [copy.deepcopy(opt.state_dict()) for opt in self.optimizers]
        for i in range(cfg.warmup_steps):
            self.train_step(0, 0.0)
            self.log(f"warmup_step:{i + 1}/{cfg.warmup_steps}")
        self.model.load_state_dict(model_state)
        for opt, state in zip(self.optimizers, opt_states):
            opt.load_state_dict(state)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        self.loader = DistributedTokenLoader(self.train_files, cfg.vocab_size, self.rt.rank, self.rt.world_size, self.rt.device)

    def evaluate(self, stride: int = 0) -> EvalResult:
        self.forward.eval()
        try:
            return evaluate(
                self.forward, self.val_tokens, self.tables, self.cfg.train_seq_len, self.cfg.val_batch_size,
                stride=stride, rank=self.rt.rank, world_size=self.rt.world_size, autocast=self.rt.autocast,
            )
        finally:
            self.forward.train()

    def train(self) -> None:
        cfg, rt = self.cfg, self.rt
        self.stop_reason = "iterations"
        train_time, step = 0.0, 0
        rt.sync()
        t0 = time.perf_counter()
        while step < cfg.iterations:
            loss, mul = self.train_step(step, train_time + time.perf_counter() - t0)
            step += 1
            elapsed = train_time + time.perf_counter() - t0
            if step % cfg.train_log_every == 0 or step == 1:
                self.log(
                    f"step:{step}/{cfg.iterations} train_loss:{loss.item():.4f} train_time:{elapsed * 1000:.0f}ms "
                    f"step_avg:{elapsed * 1000 / step:.2f}ms lr_mul:{mul:.4f} "
                    f"tok_s:{cfg.train_batch_tokens * step / max(elapsed, 1e-9):.0f}"
                )
            capped = cfg.max_wallclock_seconds is not None and elapsed >= cfg.max_wallclock_seconds
            if rt.any_rank(capped) and step < cfg.iterations:
                self.stop_reason = "wallclock_cap"
                self.log(f"stopping_early: wallclock_cap train_time:{elapsed * 1000:.0f}ms step:{step}/{cfg.iterations}")
                break
            if cfg.val_loss_every and step % cfg.val_loss_every == 0 and step < cfg.iterations:
                rt.sync()
                train_time += time.perf_counter() - t0  # the clock stops while we measure
                r = self.evaluate()
                self.log(
                    f"step:{step}/{cfg.iterations} val_loss:{r.val_loss:.4f} val_bpb:{r.val_bpb:.4f} "
                    f"train_time:{train_time * 1000:.0f}ms step_avg:{train_time * 1000 / step:.2f}ms "
                    f"eval_time:{r.seconds * 1000:.0f}ms"
                )
                rt.sync()
                t0 = time.perf_counter()
        rt.sync()
        self.train_time = train_time + time.perf_counter() - t0
        self.steps = step
        self.log(
            f"train_done steps:{step} train_time:{self.train_time * 1000:.0f}ms "
            f"step_avg:{self.train_time * 1000 / max(step, 1):.2f}ms stop:{self.stop_reason} "
            f"tok_s:{cfg.train_batch_tokens * step / max(self.train_time, 1e-9):.0f}"
        )
        self.log(f"peak_memory mib:{rt.peak_memory_mib():.0f} kind:{'cuda_allocated' if rt.cuda else 'cpu_rss'}")

    # ---- artifact and scoring
    def write_artifact(self) -> None:
        cfg, rt = self.cfg, self.rt
        self.artifact_path = cfg.run_dir / f"final_model.int{cfg.quant_bits}.{cfg.compressor}"
        t0 = time.perf_counter()
        if rt.is_main:
            quantized = quantize_state_dict(self.model.state_dict(), cfg.quant_bits, cfg.quant_embed_bits)
            save_artifact(self.artifact_path, quantized, cfg.compressor)
        rt.barrier()
        self.artifact_time = time.perf_counter() - t0
        self.bytes_model = self.artifact_path.stat().st_size
        self.log(
            f"artifact path:{self.artifact_path.name} quant:int{cfg.quant_bits} embed_quant:int{cfg.quant_embed_bits} "
            f"codec:{cfg.compressor} bytes_model:{self.bytes_model} artifact_time:{self.artifact_time * 1000:.0f}ms"
        )
        self.log(
            f"size bytes_total:{self.bytes_model + self.bytes_code} bytes_model:{self.bytes_model} "
            f"bytes_code:{self.bytes_code} limit:16000000"
        )

    def record_stage(self, name: str, r: EvalResult, diagnostic: bool) -> None:
        self.stages.append(
            {"name": name, "val_loss": r.val_loss, "val_bpb": r.val_bpb, "time_s": r.seconds,
             "tokens": r.tokens, "bytes": r.bytes, "diagnostic": diagnostic}
        )
        self.log(
            f"eval stage:{name} val_loss:{r.val_loss:.8f} val_bpb:{r.val_bpb:.8f} eval_time:{r.seconds * 1000:.0f}ms "
            f"val_tokens:{r.tokens} val_bytes:{r.bytes} diagnostic:{int(diagnostic)}"
        )

    def score(self) -> None:
        cfg = self.cfg
        if cfg.eval_prequant:
            self.record_stage("prequant", self.evaluate(), diagnostic=True)
        t0 = time.perf_counter()
        quantized = load_artifact(self.artifact_path)  # every rank reads the file it will be scored on
        self.model.load_state_dict(dequantize_state_dict(quantized, self.model.state_dict()))
        self.record_stage("roundtrip", self.evaluate(), diagnostic=False)
        if cfg.eval_stride:
            self.record_stage("roundtrip_sliding", self.evaluate(stride=cfg.eval_stride), diagnostic=False)
        self.rt.sync()
        self.eval_time = time.perf_counter() - t0
        final = self.stages[-1]
        self.log(
            f"score stage:{final['name']} val_loss:{final['val_loss']:.8f} val_bpb:{final['val_bpb']:.8f} "
            f"eval_time:{self.eval_time * 1000:.0f}ms"
        )

    def result(self) -> dict:
        cfg, rt = self.cfg, self.rt
        final = self.stages[-1]
        return {
            "val_bpb": final["val_bpb"],
            "val_loss": final["val_loss"],
            "score_stage": final["name"],
            "stages": self.stages,
            "seed": cfg.seed,
            "run_id": cfg.run_id,
            "preset": cfg.preset,
            "steps": self.steps,
            "iterations": cfg.iterations,
            "stop_reason": self.stop_reason,
            "train_time_s": self.train_time,
            "artifact_time_s": self.artifact_time,
            "eval_time_s": self.eval_time,
            "val_tokens": final["tokens"],
            "val_bytes": final["bytes"],
            "bytes_model": self.bytes_model,
            "bytes_code": self.bytes_code,
            "bytes_total": self.bytes_model + self.bytes_code,
            "artifact": self.artifact_path.name,
            "compressor": cfg.compressor,
            "quant_bits": cfg.quant_bits,
            "code_packing": cfg.code_packing,
            "peak_memory_mib": rt.peak_memory_mib(),
            "peak_memory_kind": "cuda_allocated" if rt.cuda else "cpu_rss",
            "device": rt.device.type,
            "device_name": rt.device_name(),
            "world_size": rt.world_size,
            "torch_version": torch.__version__,
            "trainer_version": TRAINER_VERSION,
            "config": dict(config_items(cfg)),
        }


def run(cfg: Config, rt: Runtime) -> dict | None:
    run_dir = cfg.run_dir
    if (run_dir / "result.json").exists():
        raise ConfigError(f"{run_dir} already holds a finished run; choose another RUN_ID")
    resolve_data_paths(cfg.data_dir, cfg.data_path, cfg.tokenizer_path, cfg.vocab_size)  # no data: no run folder
    run_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(run_dir / "train.log" if rt.is_main else None)
    try:
        trainer = Trainer(cfg, rt, log)
        trainer.prepare()
        trainer.build_model()
        trainer.warmup()
        trainer.train()
        trainer.write_artifact()
        trainer.score()
        if not rt.is_main:
            return None
        result = trainer.result()
        write_atomic(run_dir / "result.json", (json.dumps(result, indent=2) + "\n").encode())
        log(f"result path:{run_dir / 'result.json'}")
        return result
    finally:
        log.close()


def main() -> None:
    rt = None
    try:
        cfg = load_config()
        rt = init_runtime(cfg)
        run(cfg, rt)
    except (ConfigError, ShardError, TokenizerError, ArtifactError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except Exception:
        traceback.print_exc()
        fail("training failed (traceback above)", code=1)
    finally:
        shutdown(rt)
