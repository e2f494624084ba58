"""The RunPod backend against a fake RunPod API on 127.0.0.1: the real SDK, real pods-as-processes."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import pytest

import fake_runpod
from conftest import REPO, free_port, golf, launcher_env, tiny_env_args
from fake_runpod import API_KEY, POD_KEY, FakeRunPod, Pod
from launcher.spec import WorkerSpec
from test_launch_local import CRASHY

SECRET = "hf_DoNotLeakThis_31337"
AWKWARD_SECRET = 'wandb"}, { key: \\"X_1234'  # would break out of a GraphQL string pasted unescaped


@pytest.fixture
def fake(tmp_path):
    server = FakeRunPod(REPO, tmp_path, secrets=(SECRET, AWKWARD_SECRET))
    yield server
    server.close()


def runpod_env(tmp_path, data_dir, fake, **extra):
    toml = f"""
[runpod]
out_dir = "{tmp_path / 'pods'}"
data_dir = "{data_dir}"
boot_timeout_s = 4
linger_s = 60
proxy_url = "{fake.proxy_url}"
"""
    return launcher_env(tmp_path, data_dir, extra_toml=toml, RUNPOD_API_KEY=API_KEY, RUNPOD_API_BASE_URL=fake.url,
                        **extra)


def test_pods_run_the_worker_and_are_always_terminated(embedded_data, tmp_path, fake):
    fake.boot_failures = 1  # the first pod never starts its worker: an infrastructure failure, retried
    script = tmp_path / "train_gpt.py"
    script.write_text(CRASHY)  # seed 1 trains; seed 2 fails in the script
    env = runpod_env(tmp_path, embedded_data, fake, HF_TOKEN=SECRET)
    proc = golf(["launch", str(script), "--backend", "runpod", "--gpus", "1xH100", "--seeds", "1,2",
                 "--dataset", "embedded", "--name", "pods", "--retries", "1", "--yes", *tiny_env_args(),
                 "-e", "PRESET=smoke", "-e", "DEVICE=cpu", "-e", f"PYTHONPATH={REPO}", "-e", f"HF_TOKEN={SECRET}",
                 "-e", f"WANDB_API_KEY={AWKWARD_SECRET}"],
                env, tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # one seed failed in its script
    assert fake.leaks == []  # no secret in any request to RunPod or its proxy, but in a pod's env

    with sqlite3.connect(tmp_path / "golf.db") as db:
        seeds = db.execute("SELECT seed, state, attempt, failure, handle_json FROM launch_seeds ORDER BY seed").fetchall()
    states = {seed: (state, failure) for seed, state, _, failure, _ in seeds}
    assert states == {1: ("done", None), 2: ("failed", "script")}
    assert sorted(attempt for _, _, attempt, _, _ in seeds) == [1, 2]  # one seed was retried after the dead pod
    stored_pods = {json.loads(h)["pod_id"] for *_, h in seeds}

    # every pod created was terminated: the unbooted one, the finished one, the failed one
    created = fake.mutations("podFindAndDeployOnDemand")
    assert len(created) == len(fake.pods) == 3
    assert all(pod.status == "TERMINATED" for pod in fake.pods.values())
    assert stored_pods <= set(fake.pods)
    for request in created:
        pod = request["variables"]["input"]
        assert (pod["gpuTypeId"], pod["gpuCount"]) == ("NVIDIA H100 80GB HBM3", 1)
        assert re.fullmatch(r"python -m launcher\.worker --spec [A-Za-z0-9_=-]+", pod["dockerArgs"])
        spec = WorkerSpec.decode(pod["dockerArgs"].rsplit(" ", 1)[1])
        assert "HF_TOKEN" not in spec.env and "WANDB_API_KEY" not in spec.env and spec.env["DEVICE"] == "cpu"
        env = {item["key"]: item["value"] for item in pod["env"]}
        assert env["HF_TOKEN"] == SECRET and env["WANDB_API_KEY"] == AWKWARD_SECRET and env["GOLF_WORKER_TOKEN"]

    group = tmp_path / "runs" / "pods"
    assert (group / "train_seed1.log").is_file() and (group / "seed1" / "result.json").is_file()
    assert "boom" in (group / "seed2" / "attempt1.out").read_text()
    assert "my token is ***" in (group / "train_seed1.log").read_text()  # the script had it, as its environment
    assert "did not boot" in proc.stdout
    everything = proc.stdout + proc.stderr + "".join(
        p.read_bytes().decode("utf-8", errors="replace") for p in tmp_path.rglob("*")
        if p.is_file() and "pods" not in p.relative_to(tmp_path).parts[:1])  # the pods' own disks aside
    assert SECRET not in everything and AWKWARD_SECRET not in everything and API_KEY not in everything


def test_cancel_terminates_detached_pods_and_orphans(embedded_data, tmp_path, fake):
    slow = tmp_path / "slow.py"
    slow.write_text("import time\nwhile True:\n    print('step:1/9 train_loss:5.0 train_time:1ms', flush=True)\n"
                    "    time.sleep(0.5)\n")
    env = runpod_env(tmp_path, embedded_data, fake)
    proc = golf(["launch", str(slow), "--backend", "runpod", "--gpus", "8xH100", "--seeds", "1,2", "--dataset",
                 "embedded", "--name", "detached", "--detach", "--yes"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "detached" in proc.stdout and len(fake.pods) == 2
    fake.pods["orphan"] = Pod(id="orphan", name="golf-detached-s3-a1", docker_args="", env={}, gpu_type="x",
                              gpu_count=8, port=0)  # created, but the launcher died before recording it
    cancel = golf(["cancel", "detached"], env, tmp_path)
    assert cancel.returncode == 0, cancel.stderr
    assert all(pod.status == "TERMINATED" for pod in fake.pods.values())
    status = golf(["status", "detached"], env, tmp_path)
    assert status.stdout.count("cancelled") >= 2


def test_refusals_create_nothing(embedded_data, tmp_path, fake, monkeypatch):
    env = runpod_env(tmp_path, embedded_data, fake)
    no_key = golf(["launch", "--backend", "runpod", "--gpus", "8xH100", "--yes"],
                  {k: v for k, v in env.items() if k != "RUNPOD_API_KEY"}, tmp_path)
    assert no_key.returncode == 2 and "RUNPOD_API_KEY" in no_key.stderr
    monkeypatch.delitem(fake_runpod.GPU_TYPES, "NVIDIA H200")  # this account's RunPod has no H200 today
    unavailable = golf(["launch", "--backend", "runpod", "--gpus", "8xH200", "--yes"], env, tmp_path)
    assert unavailable.returncode == 2 and "does not offer NVIDIA H200" in unavailable.stderr
    assert fake.mutations("podFindAndDeployOnDemand") == [] and not (tmp_path / "golf.db").exists()


def test_the_worker_terminates_its_own_pod(embedded_data, tmp_path, fake):
    """When no launcher comes to fetch and release, the pod ends itself with its own scoped key."""
    fake.pods["pod777"] = Pod(id="pod777", name="golf-x-s1-a1", docker_args="", env={}, gpu_type="x", gpu_count=1,
                              port=0)
    spec = WorkerSpec(group="x", seed=1, nproc=1, gpu="cpu", dataset="embedded", out_dir=str(tmp_path / "out"),
                      data_dir=str(embedded_data), script_name="t.py", script_text="print('hello')\n",
                      serve_port=free_port(), linger_s=1, self_terminate=True)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "RUNPOD_POD_ID": "pod777", "RUNPOD_API_KEY": POD_KEY,
           "RUNPOD_API_BASE_URL": fake.url, "GOLF_WORKER_TOKEN": "t0ken-for-test"}
    worker = subprocess.run([sys.executable, "-m", "launcher.worker", "--spec", spec.encode()], env=env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr
    assert fake.pods["pod777"].status == "TERMINATED" and fake.pods["pod777"].terminated_by == [POD_KEY]
    assert json.loads((tmp_path / "out" / "state.json").read_text())["state"] == "done"
