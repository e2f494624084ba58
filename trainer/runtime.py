"""Where the trainer runs: device, process group, autocast, and the run log."""
from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from .config import Config, ConfigError


@dataclass
class Runtime:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    compile: bool

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when any rank says so."""
        if not self.distributed:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def device_name(self) -> str:
        if self.cuda:
            return torch.cuda.get_device_name(self.device)
        return platform.processor() or platform.machine() or "cpu"

    def peak_memory_mib(self) -> float:
        if self.cuda:
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def init_runtime(cfg: Config) -> Runtime:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = env_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("DEVICE=cuda but no CUDA device is available")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} CUDA devices are visible")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
        # Gates and gains drift into float32 denormals, which x86 CPUs compute up to 5x slower (the
        # frontier model's backward pass); flushing them to zero changes nothing that matters.
        torch.set_flush_denormal(True)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=device if use_cuda else None)
    compile_on = cfg.compile == "1" or (cfg.compile == "auto" and use_cuda)
    return Runtime(rank=rank, local_rank=local_rank, world_size=world_size, device=device, compile=compile_on)


def shutdown(rt: Runtime | None) -> None:
    if rt is not None and rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


class RunLog:
    """One line per event, to stdout and to the run's log file; silent on ranks other than 0."""

    def __init__(self, path: Path | None):
        self.fh = open(path, "a", encoding="utf-8") if path is not None else None

    def __call__(self, line: str) -> None:
        if self.fh is None:
            return
        print(line, flush=True)
        self.fh.write(line + "\n")
        self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def fail(message: str, code: int = 2) -> None:
    """Stop with one line naming the problem (printed once, by rank 0)."""
    if env_rank() == 0:
        print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
