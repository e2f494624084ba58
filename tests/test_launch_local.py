"""`golf launch` on the local backend: real worker processes, a real SQLite file, real signals."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, golf, launcher_env, tiny_env_args

SECRET = "hf_SuperSecretValue_4242"


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "cmdline").read_bytes() or marker.encode() in (proc / "environ").read_bytes():
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_three_seeds_end_to_end(embedded_data, tmp_path):
    env = launcher_env(tmp_path, embedded_data, HF_TOKEN=SECRET)
    proc = golf(["launch", "--seeds", "1,2,3", "--name", "trio", *tiny_env_args(), "-e", "VAL_LOSS_EVERY=10",
                 "-e", f"WANDB_API_KEY={SECRET}x"], env, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for seed in (1, 2, 3):
        assert f"seed {seed}: done" in proc.stdout
    # embedded data: a practice run that breaks no rule but cannot rank, and there is no record to beat
    assert "VALID  trio" in proc.stdout
    db = tmp_path / "golf.db"
    assert rows(db, "SELECT state, verdict FROM launches") == [("done", "valid")]
    seeds = rows(db, "SELECT seed, state, attempt, step, total_steps, val_bpb, gpu_seconds FROM launch_seeds ORDER BY seed")
    assert [(s, st, a, step, total) for s, st, a, step, total, _, _ in seeds] == [(n, "done", 1, 30, 30) for n in (1, 2, 3)]
    assert all(bpb and 2 < bpb < 6 and gpu_s > 0 for *_, bpb, gpu_s in seeds)
    # live curves were streamed in, and the finished group was imported as a submission
    assert rows(db, "SELECT COUNT(DISTINCT seed_id) FROM launch_points WHERE val_bpb IS NOT NULL") == [(3,)]
    assert rows(db, "SELECT key, n_seeds, verdict FROM submissions") == [("trio", 3, "valid")]
    # one analysis: the launch's printout, the database, `golf check` and the web page say the same
    check_group = golf(["check", str(tmp_path / "runs" / "trio"), "--json"], env, tmp_path)
    checked = json.loads(check_group.stdout)["submissions"][0]
    from fastapi.testclient import TestClient

    from leaderboard.web import create_app
    page = TestClient(create_app(f"sqlite:///{db}")).get("/api/submissions/1").json()
    assert checked["verdict"] == page["verdict"] == "valid"
    assert [c["status"] for c in checked["checks"]] == [c["status"] for c in page["checks"]]
    assert all(f"{c['status']:>7}  {c['id']}:" in proc.stdout for c in checked["checks"])
    transitions = [m for (m,) in rows(db, "SELECT message FROM events WHERE kind = 'seed_state' AND subject = 'trio/seed1'")]
    assert transitions[0] == "queued -> submitted" and transitions[-1].startswith("running -> done")
    group = tmp_path / "runs" / "trio"
    assert sorted(p.name for p in group.glob("*.log")) == ["train_seed1.log", "train_seed2.log", "train_seed3.log"]
    for seed in (1, 2, 3):
        result = json.loads((group / f"seed{seed}" / "result.json").read_text())
        assert result["seed"] == seed and (group / f"seed{seed}" / result["artifact"]).is_file()
        assert json.loads((group / f"seed{seed}" / "worker.json").read_text())["state"] == "done"
    assert not (tmp_path / "runs" / ".golf-work" / "trio").exists() or not any((tmp_path / "runs" / ".golf-work" / "trio").iterdir())

    # gather is idempotent: nothing in the files or the database changes
    before_files, before_db = tree_digest(group), rows(db, "SELECT * FROM launch_seeds")
    before_subs = rows(db, "SELECT id, content_hash, verdict FROM submissions")
    for _ in range(2):
        again = golf(["gather", "trio"], env, tmp_path)
        assert again.returncode == 0, again.stderr
    assert tree_digest(group) == before_files and rows(db, "SELECT * FROM launch_seeds") == before_db
    assert rows(db, "SELECT id, content_hash, verdict FROM submissions") == before_subs

    status = golf(["status", "trio"], env, tmp_path)
    assert status.returncode == 0 and "done" in status.stdout
    listing = golf(["status"], env, tmp_path)
    assert "trio" in listing.stdout and "3/3" in listing.stdout
    log = golf(["logs", "trio/seed2"], env, tmp_path)
    assert log.stdout == (group / "train_seed2.log").read_text()

    # the group packages, by its name as every other command takes it, into a folder that `golf check` passes
    out = tmp_path / "records"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pack = golf(["package", "trio", "--name", "trio", "--author", "Me", "--github-id", "me", "--out", str(out),
                 "--date", "2026-11-21"], env, elsewhere)
    assert pack.returncode == 0, pack.stderr
    check = golf(["check", str(out / "2026-11-21_trio"), "--json"], env, tmp_path)
    assert check.returncode == 0, check.stdout[-2000:]
    assert json.loads(check.stdout)["submissions"][0]["summary"]["n_seeds"] == 3

    # the secrets never left the environment: not printed, not stored, not written
    everything = proc.stdout + proc.stderr + log.stdout + status.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode("utf-8", errors="replace")
    assert SECRET not in everything
    assert "WANDB_API_KEY=***" in proc.stdout


CRASHY = """
import os, runpy, sys
print("my token is", os.environ.get("HF_TOKEN"), flush=True)  # a careless script
if os.environ["SEED"] == "2":
    print("step:1/30 train_loss:5.0 train_time:10ms", flush=True)
    raise SystemExit("boom: seed 2 is cursed")
sys.argv = ["trainer"]
runpy.run_module("trainer", run_name="__main__")
"""


def test_a_crashing_seed_fails_alone_and_is_not_retried(embedded_data, tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(CRASHY)
    env = launcher_env(tmp_path, embedded_data)
    proc = golf(["launch", str(script), "--seeds", "1,2", "--name", "crash", "--retries", "2", *tiny_env_args(),
                 "-e", "PRESET=smoke", "-e", f"PYTHONPATH={REPO}", "-e", f"HF_TOKEN={SECRET}"], env, tmp_path)
    assert proc.returncode == 1
    assert "seed 2 failed" in proc.stdout and "boom: seed 2 is cursed" in proc.stdout  # the log tail is shown
    states = rows(tmp_path / "golf.db", "SELECT seed, state, attempt, failure, exit_code FROM launch_seeds ORDER BY seed")
    assert states == [(1, "done", 1, None, 0), (2, "failed", 1, "script", 1)]
    group = tmp_path / "runs" / "crash"
    assert (group / "train_seed1.log").is_file() and not (group / "train_seed2.log").exists()
    assert "boom" in (group / "seed2" / "attempt1.out").read_text()  # the failed attempt's log is kept, unscored
    assert "my token is ***" in (group / "train_seed1.log").read_text()
    kept = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(SECRET in p.read_bytes().decode("utf-8", "replace") for p in kept)
    assert SECRET not in proc.stdout + proc.stderr


STUBBORN = """
import time
print("step:1/1000 train_loss:5.0 train_time:10ms", flush=True)
while True:  # ignores every cap
    time.sleep(0.2)
"""


def test_a_script_past_the_cap_is_killed_at_the_deadline(embedded_data, tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    env = launcher_env(tmp_path, embedded_data, extra_toml="")
    config = Path(env["GOLF_CONFIG"])
    config.write_text(config.read_text().replace("[launch]", "[launch]\ntrain_cap_s = 2\neval_cap_s = 2\nmargin_s = 1"))
    t0 = time.monotonic()
    proc = golf(["launch", str(script), "--seeds", "7", "--name", "stubborn"], env, tmp_path)
    assert proc.returncode == 1
    assert time.monotonic() - t0 < 60
    assert rows(tmp_path / "golf.db", "SELECT state, failure, reason FROM launch_seeds") == [
        ("timeout", "deadline", "no artifact 2s (train cap) + 1s (margin) after the start")]
    assert processes_mentioning(str(tmp_path / "runs" / ".golf-work")) == []


SLOW = """
import time
for step in range(1, 10000):
    print(f"step:{step}/10000 train_loss:5.0 train_time:{step * 100}ms", flush=True)
    time.sleep(0.1)
"""


def test_ctrl_c_stops_every_process(embedded_data, tmp_path):
    script = tmp_path / "slow_train.py"
    script.write_text(SLOW)
    env = {**launcher_env(tmp_path, embedded_data), "PYTHONFAULTHANDLER": "1"}  # SIGABRT prints every thread's stack
    # SIGINT as a terminal's foreground job gets it: a suite started in the background (`pytest &` in a script)
    # runs with SIGINT ignored, and the launcher, like any program, leaves an ignored SIGINT ignored
    launcher = subprocess.Popen([sys.executable, "-m", "launcher", "launch", str(script), "--seeds", "1,2,3",
                                 "--name", "interrupted"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    db = tmp_path / "golf.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db.exists():
            try:
                if rows(db, "SELECT COUNT(*) FROM launch_seeds WHERE state = 'running' AND step > 2") == [(2,)]:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.3)
    else:
        launcher.kill()
        pytest.fail("the seeds never started: " + launcher.communicate()[1][-2000:])
    scratch = str(tmp_path / "runs" / ".golf-work")  # in the command line of every worker and script
    try:
        assert len(processes_mentioning(scratch)) == 4  # two seeds running (two slots), each a worker and a script
        launcher.send_signal(signal.SIGINT)
        try:
            out, err = launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.send_signal(signal.SIGABRT)
            pytest.fail("the interrupted launcher was still running after 60 s; where it was:\n"
                        + launcher.communicate(timeout=30)[1][-6000:])
    finally:
        launcher.kill()
    assert launcher.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert processes_mentioning(scratch) == []
    assert rows(db, "SELECT state FROM launches") == [("cancelled",)]
    assert sorted(s for (s,) in rows(db, "SELECT state FROM launch_seeds")) == ["cancelled"] * 3


def test_ctrl_c_is_taken_between_the_drivers_steps_and_a_second_one_at_once():
    from launcher.driver import _ctrl_c_between_steps

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, even in a suite run in the background
    try:
        with _ctrl_c_between_steps() as interrupted:
            os.kill(os.getpid(), signal.SIGINT)  # inside a step: noted, not raised
            assert interrupted.wait(5)
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_dry_run_and_refusals(embedded_data, tmp_path):
    env = launcher_env(tmp_path, embedded_data)
    plan = golf(["launch", "--dry-run", "--seeds", "1,2", "-e", f"HF_TOKEN={SECRET}"], env, tmp_path)
    assert plan.returncode == 0 and "HF_TOKEN=***" in plan.stdout and SECRET not in plan.stdout
    assert not (tmp_path / "golf.db").exists()  # a dry run creates nothing
    bad = golf(["launch", "--gpus", "3xH100", "--dry-run"], env, tmp_path)
    assert bad.returncode == 2 and "count must be one of" in bad.stderr
    pcie = golf(["launch", "--gpus", "8xH100-PCIE", "--backend", "runpod", "--dry-run"], env, tmp_path)
    assert pcie.returncode == 2 and "SXM" in pcie.stderr
    cpu_cloud = golf(["launch", "--gpus", "cpu", "--backend", "modal", "--dry-run"], env, tmp_path)
    assert cpu_cloud.returncode == 2 and "only on the local backend" in cpu_cloud.stderr
    too_many = golf(["launch", "--gpus", "8xH100", "--seeds", "1"], env, tmp_path)
    assert too_many.returncode == 2 and "needs 8 GPUs" in too_many.stderr
    no_gpu = golf(["launch", "--gpus", "1xH100", "--dry-run"], {**env, "CUDA_VISIBLE_DEVICES": ""}, tmp_path)
    assert no_gpu.returncode == 2 and "--gpus 1xH100 needs 1 GPU; this machine has 0" in no_gpu.stderr  # in a dry run too
    pricey = golf(["launch", "--backend", "runpod", "--max-cost", "5", "--dry-run"], env, tmp_path)
    assert pricey.returncode == 2 and "above --max-cost" in pricey.stderr
    (tmp_path / "leaky.toml").write_text('[runpod]\napi_key = "rp_in_a_world_readable_file"\n')
    (tmp_path / "leaky.toml").chmod(0o644)
    leaky = golf(["launch", "--dry-run"], {**env, "GOLF_CONFIG": str(tmp_path / "leaky.toml")}, tmp_path)
    assert leaky.returncode == 2 and "chmod 600" in leaky.stderr and "rp_in_a_world" not in leaky.stderr


def test_local_workers_get_secrets_by_environment_not_on_disk(tmp_path, monkeypatch):
    from launcher.gpus import parse_gpus
    from launcher.plan import LaunchPlan
    from launcher.settings import load_settings

    monkeypatch.setenv("GOLF_CONFIG", str(tmp_path / "none.toml"))
    plan = LaunchPlan(group="g", backend_name="local", gpus=parse_gpus("cpu"), seeds=[1], script=None,
                      env={"HF_TOKEN": SECRET, "NUM_LAYERS": "2"}, track="10min_16mb", dataset="embedded", retries=0,
                      runs_dir=tmp_path / "runs", settings=load_settings())
    job = plan.job(1)
    assert job.secret_env == {"HF_TOKEN": SECRET} and job.spec.env == {"NUM_LAYERS": "2"}
    assert SECRET not in job.spec.to_json()


LIAR = """
import os
from golfcore.loggrammar import format_event, ms
seed = os.environ["SEED"]
print(format_event("golf_trainer", version="x", seed=seed, device="cpu", world_size=1), flush=True)
print(format_event("step", "5/5", train_loss="3.0", train_time=ms(1.0)), flush=True)
print(format_event("train_done", steps=5, train_time=ms(1.0), stop="iterations"), flush=True)
with open("final_model.int8.brotli", "wb") as fh:  # 20,000,000 bytes, as a file: more than the log says
    fh.truncate(20_000_000)
print(format_event("artifact", path="final_model.int8.brotli", bytes_model=15_000_000, artifact_time=ms(0.1)), flush=True)
print(format_event("size", bytes_total=15_050_000, bytes_model=15_000_000, bytes_code=50_000, limit=16_000_000), flush=True)
print(format_event("eval", stage="roundtrip", val_loss="2.0", val_bpb="1.2", eval_time=ms(1.0), diagnostic=0), flush=True)
print(format_event("score", stage="roundtrip", val_loss="2.0", val_bpb="1.2", eval_time=ms(1.0)), flush=True)
"""


def test_the_artifact_files_size_is_the_truth_and_an_invalid_group_fails_the_launch(embedded_data, tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text(LIAR)
    env = launcher_env(tmp_path, embedded_data)
    proc = golf(["launch", str(script), "--seeds", "1", "--name", "liar", "-e", f"PYTHONPATH={REPO}"], env, tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]  # like golf check: the group breaks a rule
    assert "INVALID  liar" in proc.stdout and "the artifact file holds 20,000,000" in proc.stdout
    check = golf(["check", str(tmp_path / "runs" / "liar"), "--json"], env, tmp_path)
    size = next(c for c in json.loads(check.stdout)["submissions"][0]["checks"] if c["id"] == "artifact_size")
    assert check.returncode == 1 and size["status"] == "fail" and "20,050,000 bytes > 16,000,000" in size["message"]
