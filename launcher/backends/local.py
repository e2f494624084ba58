"""This machine: each seed's worker is a real subprocess in its own session.

Seeds run side by side when there is room: one per GPU set (CUDA_VISIBLE_DEVICES), or on
CPU as many as the cores allow at `threads_per_seed` each; the rest wait their turn.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from golfcore.console import plural

from ..gpus import GpuSpec
from ..spec import WorkerSpec
from ..worker import GRACE_S, TERMINAL, copy_outputs, read_state
from .base import Backend, JobStatus, LaunchError, SeedJob, job_status_from_worker

WORK_DIR = ".golf-work"  # under the runs dir; hidden, so imports of runs/ skip it


def visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process: with the pid, it names the process even after pid reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(handle: dict) -> bool:
    start = process_start_time(handle["pid"])
    if start is None or start != handle.get("start_time"):
        return False
    try:
        state = Path(f"/proc/{handle['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class LocalBackend(Backend):
    name = "local"

    def cpu_slots(self) -> int:
        local = self.settings["local"]
        if int(local.get("slots") or 0) > 0:
            return int(local["slots"])
        return max(1, (os.cpu_count() or 1) // max(1, int(local["threads_per_seed"])))

    def check(self, gpus: GpuSpec) -> None:
        if gpus.is_cpu:
            return
        have = visible_gpus()
        if have < gpus.count:
            raise LaunchError(f"--gpus {gpus} needs {plural(gpus.count, 'GPU')}; this machine has {have}")

    def capacity(self, gpus: GpuSpec) -> int:
        return self.cpu_slots() if gpus.is_cpu else max(1, visible_gpus() // gpus.count)

    def work_dir(self, runs_dir: Path, job: SeedJob) -> Path:
        return runs_dir / WORK_DIR / job.group / f"seed{job.seed}-a{job.attempt}"

    def prepare(self, job: SeedJob, runs_dir: Path) -> WorkerSpec:
        spec = job.spec
        spec.out_dir = str(self.work_dir(runs_dir, job).resolve())
        spec.data_dir = str(Path(self.settings["local"]["data_dir"]).resolve())
        spec.env = {k: v for k, v in spec.env.items() if k not in job.secret_env}  # they go by process env
        if job.gpus.is_cpu:
            spec.threads = int(self.settings["local"]["threads_per_seed"])
        return spec

    def describe(self, job: SeedJob) -> dict:
        devices = self._devices(job)
        return {"runs on": "this machine, as a subprocess", "devices": devices or "cpu",
                "command": f"{sys.executable} -m launcher.worker --spec-file {job.spec.out_dir}/spec.json"}

    def _devices(self, job: SeedJob) -> str | None:
        if job.gpus.is_cpu:
            return None
        first = job.slot * job.gpus.count
        return ",".join(str(i) for i in range(first, first + job.gpus.count))

    def submit(self, job: SeedJob) -> dict:
        out = Path(job.spec.out_dir)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / "spec.json").write_text(job.spec.to_json())
        env = dict(os.environ, **job.secret_env)  # never written to disk
        devices = self._devices(job)
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices
        project = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (project, env.get("PYTHONPATH")) if p)
        with open(out / "worker.out", "wb") as console:
            proc = subprocess.Popen([sys.executable, "-m", "launcher.worker", "--spec-file", str(out / "spec.json")],
                                    stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        return {"pid": proc.pid, "start_time": process_start_time(proc.pid), "out_dir": str(out), "slot": job.slot,
                "devices": devices}

    def poll(self, handle: dict) -> JobStatus:
        status = job_status_from_worker(read_state(Path(handle["out_dir"])))
        if status is not None and status.state in TERMINAL:
            return status
        if not alive(handle):
            reap(handle["pid"])
            time.sleep(0.2)  # the worker may have written its last state while we looked
            status = job_status_from_worker(read_state(Path(handle["out_dir"])))
            if status is not None and status.state in TERMINAL:
                return status
            return JobStatus(state="lost", failure="infra", reason="the worker process is gone")
        return status or JobStatus(state="submitted")

    def read_log(self, handle: dict, offset: int) -> bytes:
        path = Path(handle["out_dir"]) / "train.log"
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read(4 << 20)
        except FileNotFoundError:
            return b""

    def fetch_outputs(self, handle: dict, dest: Path) -> list[str]:
        return copy_outputs(Path(handle["out_dir"]), dest)

    def release(self, handle: dict) -> None:
        """The scratch (the trainer's own run folder, a second copy of the artifact) is not needed."""
        shutil.rmtree(handle["out_dir"], ignore_errors=True)

    def cancel(self, handle: dict) -> None:
        """SIGTERM the worker (it stops its script), then SIGKILL both process groups if they linger."""
        state = read_state(Path(handle["out_dir"])) or {}
        groups = [handle["pid"]] + ([state["script_pid"]] if state.get("script_pid") else [])
        if alive(handle):
            os.killpg(handle["pid"], signal.SIGTERM)
            deadline = time.monotonic() + GRACE_S + 5
            while alive(handle) and time.monotonic() < deadline:
                time.sleep(0.1)
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap(handle["pid"])


def reap(pid: int) -> None:
    """Collect the exit status of a worker this process started (else it stays a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: another golf process started it
        pass
