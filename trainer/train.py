"""The training run: preflight checks, warmup, the capped training loop, EMA and calibration,
the artifact, and the evaluation stages that produce the score and result.json.

Every line of the log is an event of golfcore.loggrammar, written with format_event.
"""
from __future__ import annotations

import copy
import json
import random
import time
import traceback

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from golfcore.loggrammar import format_event, ms
from golfcore.vocabulary import ARTIFACT_LIMIT_BYTES

from .artifact import ArtifactError, load_artifact, save_artifact, write_atomic
from .codesize import code_bytes
from .config import Config, ConfigError, config_items, grad_accum_steps, load_config
from .ema import EMA
from .evaluate import EvalResult, evaluate
from .gptq import collect_hessians
from .model import GPT, load_flash_attention
from .muon import Muon, newton_schulz
from .optimizers import build_optimizers, effective_cap, lr_multiplier, muon_momentum, progress
from .quantize import QuantPlan, dequantize_state_dict, quantize_state_dict
from .runtime import RunLog, Runtime, fail, init_runtime, shutdown
from .shards import DistributedTokenLoader, ShardError, load_validation_tokens, resolve_data_paths, shard_files
from .tokenizer_bytes import TokenizerError, build_byte_tables, load_tokenizer
from .ttt import TTTSettings, chunk_plan, document_starts, phased_plan, score_first_ttt

TRAINER_VERSION = "0.2.0"
TTT_PROGRESS_LINES = 10  # about this many `ttt` lines per stage


class Trainer:
    def __init__(self, cfg: Config, rt: Runtime, log: RunLog):
        self.cfg, self.rt, self.log = cfg, rt, log
        self.stages: list[dict] = []
        self.bos_id = 1
        self.calib_time = 0.0

    # ---- preflight: everything that can be wrong is found before the model exists
    def prepare(self) -> None:
        cfg, rt = self.cfg, self.rt
        self.accum = grad_accum_steps(cfg, rt.world_size)
        self.dataset, tokenizer_path = resolve_data_paths(cfg.data_dir, cfg.data_path, cfg.tokenizer_path, cfg.vocab_size)
        sp = load_tokenizer(tokenizer_path, cfg.vocab_size)
        self.bos_id = int(sp.bos_id()) if sp.bos_id() >= 0 else self.bos_id
        self.tables = build_byte_tables(sp).to(rt.device)
        self.val_tokens = load_validation_tokens(self.dataset, cfg.train_seq_len, cfg.vocab_size)
        self.train_files = shard_files(self.dataset, "train")
        self.loader = DistributedTokenLoader(self.train_files, cfg.vocab_size, rt.rank, rt.world_size, rt.device)
        self.bytes_code = code_bytes(cfg.code_packing)
        self.log(format_event(
            "golf_trainer", version=TRAINER_VERSION, run_id=cfg.run_id, preset=cfg.preset, seed=cfg.seed,
            device=rt.device.type, device_name=rt.device_name(), world_size=rt.world_size, torch=torch.__version__,
            compile=int(rt.compile)))
        self.log(format_event("config", **{k: "none" if v is None else v for k, v in config_items(cfg)}))
        self.log(format_event(
            "data", dataset=self.dataset, tokenizer=tokenizer_path, train_shards=len(self.train_files),
            val_tokens=self.val_tokens.numel() - 1, grad_accum_steps=self.accum))
        self.log(format_event("code", bytes_code=self.bytes_code, packing=cfg.code_packing))

    def build_model(self) -> None:
        cfg, rt = self.cfg, self.rt
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.model = GPT(cfg, bos_id=self.bos_id).to(rt.device)
        if rt.cuda:
            self.model.tok_emb.to(torch.bfloat16)
            flash = load_flash_attention()
            if flash is not None:
                self.model.use_flash_attention(flash)
        self.log(format_event(
            "model", params=sum(p.numel() for p in self.model.parameters()), layers=cfg.num_layers,
            dim=cfg.model_dim, heads=cfg.num_heads, kv_heads=cfg.num_kv_heads, vocab=cfg.vocab_size,
            attention="flash" if rt.cuda and self.model.blocks[0].attn.flash_attn else "sdpa"))
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
                    opt.orthogonalize = torch.compile(newton_schulz)

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
        """Run a few real steps to compile and allocate (again with the recurrence loop on, when there
        is one), then restore the initial state and data order."""
        cfg = self.cfg
        if cfg.warmup_steps == 0:
            return
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        opt_states = [copy.deepcopy(opt.state_dict()) for opt in self.optimizers]
        loops = [False, True] if cfg.num_loops else [False]
        total = cfg.warmup_steps * len(loops)
        for n, looping in enumerate(loops):
            self.model.looping_active = looping
            for i in range(cfg.warmup_steps):
                self.train_step(0, 0.0)
                self.log(format_event("warmup_step", f"{n * cfg.warmup_steps + i + 1}/{total}"))
        self.model.looping_active = False
        self.model.load_state_dict(model_state)
        for opt, state in zip(self.optimizers, opt_states):
            opt.load_state_dict(state)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        self.loader = DistributedTokenLoader(self.train_files, cfg.vocab_size, self.rt.rank, self.rt.world_size, self.rt.device)

    def eval_batch_seqs(self) -> int:
        """Windows per forward: VAL_BATCH_SIZE tokens split like a training batch's micro-batches."""
        return max(1, self.cfg.val_batch_size // (self.cfg.train_microbatches * self.cfg.train_seq_len))

    def evaluate(self, stride: int = 0) -> EvalResult:
        self.forward.eval()
        try:
            return evaluate(
                self.forward, self.val_tokens, self.tables, self.cfg.train_seq_len, self.eval_batch_seqs(),
                stride=stride, rank=self.rt.rank, world_size=self.rt.world_size, autocast=self.rt.autocast,
                fixed_shapes=self.rt.compile,
            )
        finally:
            self.forward.train()

    def maybe_start_looping(self, step: int, elapsed: float) -> None:
        cfg = self.cfg
        if cfg.num_loops and not self.model.looping_active and progress(cfg, step, elapsed) >= cfg.enable_looping_at:
            self.model.looping_active = True
            encoder, decoder = self.model.layer_order()
            self.log(format_event("recurrence", step=step, frac=f"{progress(cfg, step, elapsed):.3f}",
                                  order=",".join(map(str, encoder + decoder))))

    def train(self) -> None:
        cfg, rt = self.cfg, self.rt
        self.stop_reason = "iterations"
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        cap = effective_cap(cfg)
        train_time, step = 0.0, 0
        rt.sync()
        t0 = time.perf_counter()
        while step < cfg.iterations:
            self.maybe_start_looping(step, train_time + time.perf_counter() - t0)
            loss, mul = self.train_step(step, train_time + time.perf_counter() - t0)
            if self.ema is not None:
                self.ema.update(self.model)
            step += 1
            elapsed = train_time + time.perf_counter() - t0
            if step % cfg.train_log_every == 0 or step == 1:
                self.log(format_event(
                    "step", f"{step}/{cfg.iterations}", train_loss=f"{loss.item():.4f}", train_time=ms(elapsed),
                    step_avg=f"{elapsed * 1000 / step:.2f}ms", lr_mul=f"{mul:.4f}",
                    tok_s=f"{cfg.train_batch_tokens * step / max(elapsed, 1e-9):.0f}"))
            capped = cap is not None and elapsed >= cap
            if rt.any_rank(capped) and step < cfg.iterations:
                self.stop_reason = "wallclock_cap"
                self.log(format_event("stopping_early", reason="wallclock_cap", train_time=ms(elapsed),
                                      step=f"{step}/{cfg.iterations}"))
                break
            if cfg.val_loss_every and step % cfg.val_loss_every == 0 and step < cfg.iterations:
                rt.sync()
                train_time += time.perf_counter() - t0  # the clock stops while we measure
                r = self.evaluate()
                self.log(format_event(
                    "step", f"{step}/{cfg.iterations}", val_loss=f"{r.val_loss:.4f}", val_bpb=f"{r.val_bpb:.4f}",
                    train_time=ms(train_time), step_avg=f"{train_time * 1000 / step:.2f}ms", eval_time=ms(r.seconds)))
                rt.sync()
                t0 = time.perf_counter()
        rt.sync()
        self.train_time = train_time + time.perf_counter() - t0
        self.steps = step
        self.log(format_event(
            "train_done", steps=step, train_time=ms(self.train_time),
            step_avg=f"{self.train_time * 1000 / max(step, 1):.2f}ms", stop=self.stop_reason,
            tok_s=f"{cfg.train_batch_tokens * step / max(self.train_time, 1e-9):.0f}"))
        self.log(format_event("peak_memory", mib=f"{rt.peak_memory_mib():.0f}",
                              kind="cuda_allocated" if rt.cuda else "cpu_rss"))

    # ---- from the trained weights to the artifact
    def apply_ema(self) -> None:
        if self.ema is not None:
            self.ema.copy_to(self.model)
            self.log(format_event("ema", decay=self.cfg.ema_decay, updates=self.ema.updates))

    def calibrate(self) -> dict[str, torch.Tensor] | None:
        """GPTQ Hessians from training batches, summed over ranks. Reads training data: capped with training."""
        cfg, rt = self.cfg, self.rt
        if cfg.quant_method != "gptq":
            return None
        rt.sync()
        t0 = time.perf_counter()
        batches = (self.loader.next_batch(cfg.train_batch_tokens, cfg.train_seq_len, self.accum)[0]
                   for _ in range(cfg.gptq_calibration_batches * self.accum))
        hessians = collect_hessians(self.model, batches, autocast=rt.autocast)
        if rt.distributed:
            for name in sorted(hessians):
                h = hessians[name].to(rt.device)
                dist.all_reduce(h, op=dist.ReduceOp.SUM)
                hessians[name] = h.cpu()
        rt.sync()
        self.calib_time = time.perf_counter() - t0
        self.log(format_event("calibration", source="train", batches=cfg.gptq_calibration_batches,
                              tokens=cfg.gptq_calibration_batches * cfg.train_batch_tokens, calib_time=ms(self.calib_time)))
        return hessians

    def write_artifact(self, hessians: dict[str, torch.Tensor] | None) -> None:
        cfg, rt = self.cfg, self.rt
        self.artifact_path = cfg.run_dir / f"final_model.int{cfg.matrix_bits}.{cfg.compressor}"
        t0 = time.perf_counter()
        if rt.is_main:
            quantized = quantize_state_dict(self.model.state_dict(), QuantPlan.from_config(cfg), hessians)
            save_artifact(self.artifact_path, quantized, cfg.compressor)
        rt.barrier()
        self.artifact_time = time.perf_counter() - t0
        self.bytes_model = self.artifact_path.stat().st_size
        self.log(format_event(
            "artifact", path=self.artifact_path.name, quant=f"int{cfg.matrix_bits}", embed_quant=f"int{cfg.embed_bits}",
            codec=cfg.compressor, bytes_model=self.bytes_model, artifact_time=ms(self.artifact_time),
            method=cfg.quant_method, lqer=f"rank{cfg.lqer_rank}x{cfg.lqer_top_k}" if cfg.lqer_enabled else "off"))
        self.log(format_event("size", bytes_total=self.bytes_model + self.bytes_code, bytes_model=self.bytes_model,
                              bytes_code=self.bytes_code, limit=ARTIFACT_LIMIT_BYTES))

    # ---- scoring
    def record_stage(self, name: str, r: EvalResult, diagnostic: bool) -> None:
        self.stages.append(
            {"name": name, "val_loss": r.val_loss, "val_bpb": r.val_bpb, "time_s": r.seconds,
             "tokens": r.tokens, "bytes": r.bytes, "diagnostic": diagnostic}
        )
        self.log(format_event(
            "eval", stage=name, val_loss=f"{r.val_loss:.8f}", val_bpb=f"{r.val_bpb:.8f}", eval_time=ms(r.seconds),
            val_tokens=r.tokens, val_bytes=r.bytes, diagnostic=int(diagnostic)))

    def ttt_settings(self, epochs: int, momentum: float) -> TTTSettings:
        cfg = self.cfg
        return TTTSettings(seq_len=cfg.train_seq_len, stride=cfg.eval_stride, eval_batch_seqs=self.eval_batch_seqs(),
                           train_batch_seqs=cfg.ttt_batch_seqs, epochs=epochs, momentum=momentum,
                           grad_clip=cfg.ttt_grad_clip)

    def run_ttt(self, name: str, plan, settings: TTTSettings, weights: dict[str, torch.Tensor]) -> None:
        """A score-first TTT stage, from the artifact's weights."""
        self.model.load_state_dict(weights)
        every = max(1, len(plan) // TTT_PROGRESS_LINES)

        def progress(i, seg):
            if (i + 1) % every == 0 or i + 1 == len(plan):
                self.log(format_event(
                    "ttt", stage=name, segment=f"{i + 1}/{len(plan)}", scored_tokens=seg.hi - seg.lo,
                    trained_tokens=sum((hi - lo) // settings.seq_len * settings.seq_len for lo, hi, _ in seg.train),
                    lr=f"{max((lr for *_, lr in seg.train), default=0.0):.6f}"))

        r = score_first_ttt(self.forward, self.val_tokens, self.tables, plan, settings, rank=self.rt.rank,
                            world_size=self.rt.world_size, autocast=self.rt.autocast, fixed_shapes=self.rt.compile,
                            progress=progress)
        self.record_stage(name, r, diagnostic=False)

    def score(self) -> None:
        cfg = self.cfg
        if cfg.eval_prequant:
            self.record_stage("prequant", self.evaluate(), diagnostic=True)
        t0 = time.perf_counter()
        quantized = load_artifact(self.artifact_path)  # every rank reads the file it will be scored on
        weights = dequantize_state_dict(quantized, self.model.state_dict())
        self.model.load_state_dict(weights)
        self.record_stage("roundtrip", self.evaluate(), diagnostic=False)
        if cfg.eval_stride:
            self.record_stage("roundtrip_sliding", self.evaluate(stride=cfg.eval_stride), diagnostic=False)
        num_targets = self.val_tokens.numel() - 1
        if cfg.phased_ttt_enabled:
            plan = phased_plan(num_targets, document_starts(self.val_tokens, self.bos_id), cfg.phased_ttt_prefix_docs,
                               cfg.phased_ttt_num_phases, cfg.global_ttt_lr, cfg.ttt_chunk_tokens)
            self.run_ttt("roundtrip_phased_ttt", plan, self.ttt_settings(cfg.global_ttt_epochs, cfg.global_ttt_momentum),
                         weights)
        if cfg.ttt_enabled:
            plan = chunk_plan(num_targets, cfg.ttt_chunk_tokens, cfg.ttt_lr)
            self.run_ttt("roundtrip_ttt", plan, self.ttt_settings(cfg.ttt_epochs, cfg.ttt_momentum), weights)
        self.rt.sync()
        self.eval_time = time.perf_counter() - t0
        final = self.stages[-1]
        self.log(format_event("score", stage=final["name"], val_loss=f"{final['val_loss']:.8f}",
                              val_bpb=f"{final['val_bpb']:.8f}", eval_time=ms(self.eval_time)))

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
            "calibration_time_s": self.calib_time,
            "artifact_time_s": self.artifact_time,
            "eval_time_s": self.eval_time,
            "val_tokens": final["tokens"],
            "val_bytes": final["bytes"],
            "bytes_model": self.bytes_model,
            "bytes_code": self.bytes_code,
            "bytes_total": self.bytes_model + self.bytes_code,
            "artifact": self.artifact_path.name,
            "compressor": cfg.compressor,
            "quant_method": cfg.quant_method,
            "quant_bits": cfg.matrix_bits,
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
        trainer.apply_ema()
        hessians = trainer.calibrate()
        trainer.write_artifact(hessians)
        trainer.score()
        if not rt.is_main:
            return None
        result = trainer.result()
        write_atomic(run_dir / "result.json", (json.dumps(result, indent=2) + "\n").encode())
        log(format_event("result", path=run_dir / "result.json"))
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
