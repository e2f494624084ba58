"""Launch faults: this machine's disk refusing a seed's files, and a script whose child escapes its
process group. Real processes, a real SQLite file, the kernel's own ENOSPC (from /dev/full)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, golf, launcher_env
from launcher.spec import WorkerSpec

FINISHES = """
print("golf_trainer version:test run_id:r preset:smoke seed:1 device:cpu device_name:cpu world_size:1", flush=True)
print("step:1/5 train_loss:6.9000 train_time:100ms step_avg:100ms", flush=True)
print("train_done steps:5 train_time:500ms step_avg:100ms stop:iterations", flush=True)
with open("final_model.int8.brotli", "wb") as fh:
    fh.write(bytes(50_000))
print("artifact path:final_model.int8.brotli quant:int8 embed_quant:int8 codec:brotli bytes_model:50000 "
      "artifact_time:10ms", flush=True)
print("score stage:roundtrip val_loss:5.6 val_bpb:3.2241 eval_time:1000ms", flush=True)
"""


def test_a_full_disk_while_files_come_home_fails_the_seed_cleanly(embedded_data, tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(FINISHES)
    seed_dir = tmp_path / "runs" / "full" / "seed1"
    seed_dir.mkdir(parents=True)
    (seed_dir / "worker.json").symlink_to("/dev/full")  # the last file to come home: ENOSPC, after the others
    env = launcher_env(tmp_path, embedded_data)
    proc = golf(["launch", str(script), "--seeds", "1", "--name", "full"], env, tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert "No space left on device" in proc.stdout and "free some space" in proc.stdout
    with sqlite3.connect(tmp_path / "golf.db") as db:
        state, failure, reason = db.execute("SELECT state, failure, reason FROM launch_seeds").fetchone()
        events = " ".join(m for (m,) in db.execute("SELECT message FROM events"))
    assert (state, failure) == ("failed", "infra") and "No space left on device" in reason
    assert "interrupted" not in reason + events
    assert sorted(p.name for p in seed_dir.iterdir()) == ["attempt1.out"]  # the half-copied files are gone; the log kept
    assert "train_done steps:5" in (seed_dir / "attempt1.out").read_text()
    scratch = tmp_path / "runs" / ".golf-work" / "full"
    assert not scratch.exists() or not any(scratch.iterdir())  # the worker's scratch is cleaned


ESCAPES = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
open("child.pid", "w").write(str(child.pid))
print("step:1/1000 train_loss:5.0 train_time:10ms", flush=True)
time.sleep(300)  # never writes an artifact: the deadline kills it
"""


def alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def test_the_deadline_kills_a_child_in_its_own_session(embedded_data, tmp_path):
    spec = WorkerSpec(group="g", seed=1, nproc=1, gpu="cpu", dataset="embedded", out_dir=str(tmp_path / "out"),
                      data_dir=str(embedded_data), script_name="train_gpt.py", script_text=ESCAPES, train_cap_s=1,
                      eval_cap_s=1, margin_s=1)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    t0 = time.monotonic()
    worker = subprocess.run([sys.executable, "-m", "launcher.worker", "--spec", spec.encode()], env=env,
                            capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 60, "the worker waited for the escaped child"
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert (state["state"], state["failure"]) == ("timeout", "deadline"), worker.stderr[-2000:]
    pid = int((tmp_path / "out" / "work" / "child.pid").read_text())
    try:
        assert not alive(pid), "the script's child in its own session outlived the deadline"
    finally:
        if alive(pid):
            os.kill(pid, 9)
