"""Modal and SkyPilot, offline: their SDK objects built and asserted on, the Modal function body run
locally, and the SkyPilot backend driven end to end behind its client adapter."""
from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from conftest import REPO, TINY
from launcher.backends.base import LaunchError
from launcher.backends.modal import ModalBackend, run_seed
from launcher.backends.skypilot import SkyClient, SkyPilotBackend
from launcher.driver import Driver
from launcher.gpus import parse_gpus
from launcher.launches import create_launch
from launcher.plan import LaunchPlan
from launcher.settings import DEFAULTS, load_settings
from launcher.spec import WorkerSpec
from leaderboard.db import LaunchRow, open_database

SECRET = "hf_CloudSecret_777777"


@pytest.fixture
def settings(monkeypatch, tmp_path):
    monkeypatch.setenv("GOLF_CONFIG", str(tmp_path / "none.toml"))
    return load_settings()


def make_plan(settings, backend, tmp_path, gpus="8xH100", env=None) -> LaunchPlan:
    return LaunchPlan(group="grp", backend_name=backend.name, gpus=parse_gpus(gpus),
                      seeds=[42, 314], script=None, env=env or {}, track="10min_16mb", dataset="sp1024", retries=1,
                      runs_dir=tmp_path / "runs", settings=settings, backend=backend)


def test_modal_app_is_declared_as_the_challenge_needs(settings, tmp_path):
    settings["modal"]["secrets"] = ["huggingface"]
    backend = ModalBackend(settings)
    job = make_plan(settings, backend, tmp_path, env={"HF_TOKEN": SECRET, "NUM_LAYERS": "11"}).job(42)
    options = backend.function_options(job)
    app, function = backend.build_app(job)
    spec = function._spec_  # what Modal will create, read before anything is deployed
    assert spec.gpus == "H100:8" and options["gpu"] == "H100:8"
    assert set(spec.volumes) == {"/data", "/outputs"}
    assert sorted(map(repr, options["volumes"].values())) == ["modal.Volume.from_name('golf-data')",
                                                              "modal.Volume.from_name('golf-outputs')"]
    assert len(spec.secrets) == 2  # the named one, and the launch's secret env as its own Secret
    assert options["timeout"] == 600 + 600 + 2 * 120 + 900  # the caps, their margins, and setup
    # the secret is not in the spec the function receives; ordinary settings are
    assert job.spec.env == {"NUM_LAYERS": "11", "GOLF_MODAL_OUTPUTS": "golf-outputs"}
    assert SECRET not in WorkerSpec.decode(job.spec.encode()).to_json()
    described = backend.describe(job)
    assert described["gpu"] == "H100:8" and described["timeout_s"] == options["timeout"]
    h200 = make_plan(settings, backend, tmp_path, gpus="4xH200").job(1)
    assert backend.build_app(h200)[1]._spec_.gpus == "H200:4"


def test_modal_needs_credentials_before_anything(settings, monkeypatch, tmp_path):
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    import modal.config

    monkeypatch.setattr(modal.config.config, "get", lambda key, *a, **k: None)
    with pytest.raises(LaunchError, match="modal token new"):
        ModalBackend(settings).preflight(parse_gpus("8xH100"), 3)


def test_modal_function_body_runs_the_worker_locally(embedded_data, tmp_path):
    spec = WorkerSpec(group="g", seed=5, nproc=1, gpu="cpu", dataset="embedded", out_dir=str(tmp_path / "out"),
                      data_dir=str(embedded_data), env={k: v for k, v in TINY.items()}, threads=1)
    state = run_seed(spec.encode())
    assert state["state"] == "done", (tmp_path / "out" / "train.log").read_text()[-2000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["seed"] == 5 and (tmp_path / "out" / result["artifact"]).is_file()


def test_skypilot_task_round_trips_through_yaml(settings, tmp_path):
    import sky

    settings["skypilot"]["outputs_bucket"] = "s3://golf-out"
    backend = SkyPilotBackend(settings)
    plan = make_plan(settings, backend, tmp_path, env={"HF_TOKEN": SECRET, "NUM_LAYERS": "11"})
    job = plan.job(42)
    config = backend.task(job, job.secret_env).to_yaml_config()
    again = sky.Task.from_yaml_config(copy.deepcopy(config))  # it consumes the dict it reads
    (resources,) = again.resources
    assert resources.accelerators == {"H100-SXM": 8}  # the SXM part, not SkyPilot's ambiguous plain H100
    assert "golf-trainer" in str(resources.image_id)
    assert again.envs == {"SEED": "42", "HF_TOKEN": SECRET}  # secrets ride in the task env, not in the spec
    assert again.run.startswith("python -m launcher.worker --spec ")
    spec = WorkerSpec.decode(again.run.split()[-1])
    assert spec.seed == 42 and spec.nproc == 8 and spec.env == {"NUM_LAYERS": "11"} and spec.out_dir.startswith("/outputs/")
    assert "/outputs" in config["file_mounts"]
    assert "(set skypilot.outputs_bucket)" not in backend.describe(job)["outputs"]
    with pytest.raises(LaunchError, match="outputs_bucket"):
        SkyPilotBackend(load_settings()).preflight(parse_gpus("8xH100"), 1)


class LocalSky(SkyClient):
    """SkyPilot's role played on this machine: jobs are worker processes, the bucket a folder."""

    def __init__(self, root: Path, data_dir: Path):
        super().__init__("jobs")
        self.root, self.data_dir = root, data_dir
        self.jobs: dict[str, dict] = {}
        self.launched: list = []

    def launch(self, task, name):
        self.launched.append(task.to_yaml_config())
        spec = WorkerSpec.decode(task.run.split()[-1])
        spec.out_dir = str(self.root / "bucket" / spec.out_dir.removeprefix("/outputs/"))
        spec.data_dir = str(self.data_dir)
        job_id = str(len(self.jobs) + 1)
        console = open(self.root / f"job{job_id}.console", "wb")
        env = {**os.environ, **task.envs, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "launcher.worker", "--spec", spec.encode()], env=env,
                                stdout=console, stderr=subprocess.STDOUT)
        self.jobs[job_id] = {"proc": proc, "console": self.root / f"job{job_id}.console", "name": name}
        return job_id

    def status(self, job_id, name):
        code = self.jobs[job_id]["proc"].poll()
        return "RUNNING" if code is None else ("SUCCEEDED" if code == 0 else "FAILED")

    def logs(self, job_id, name):
        text = self.jobs[job_id]["console"].read_bytes()
        return b"".join(f"({name}, pid=4242) ".encode() + line for line in text.splitlines(keepends=True))

    def cancel(self, job_id, name):
        self.jobs[job_id]["proc"].kill()

    def download(self, bucket_url, dest):
        shutil.copytree(self.root / "bucket" / bucket_url.removeprefix("s3://golf-out/"), dest, dirs_exist_ok=True)


def test_skypilot_backend_end_to_end_behind_its_adapter(embedded_data, settings, tmp_path):
    settings["skypilot"]["outputs_bucket"] = "s3://golf-out"
    settings["launch"]["poll_seconds"] = 0.3
    client = LocalSky(tmp_path, embedded_data)
    backend = SkyPilotBackend(settings, client=client)
    env = {k: v for k, v in TINY.items()} | {"DEVICE": "cpu", "HF_TOKEN": SECRET}
    plan = LaunchPlan(group="sky", backend_name="skypilot", gpus=parse_gpus("1xH100"), seeds=[3, 4], script=None,
                      env=env, track="10min_16mb", dataset="embedded", retries=0, runs_dir=tmp_path / "runs",
                      settings=settings, backend=backend)
    sessions = open_database(f"sqlite:///{tmp_path / 'golf.db'}")
    create_launch(sessions, plan, plan.as_dict())
    out = io.StringIO()
    outcome = Driver(sessions, plan, Console(file=out, width=200)).run()
    assert outcome.state == "done", out.getvalue()[-3000:]
    with sessions() as session:
        launch = session.query(LaunchRow).one()
        assert [(s.seed, s.state, s.step, s.total_steps) for s in launch.seeds] == [(3, "done", 30, 30), (4, "done", 30, 30)]
    group = tmp_path / "runs" / "sky"
    for seed in (3, 4):
        log = (group / f"train_seed{seed}.log").read_text()
        assert "pid=4242" not in log and "score stage:" in log  # the bucket's copy, not SkyPilot's prefixed tail
        assert (group / f"seed{seed}" / "result.json").is_file()
    assert len(client.launched) == 2 and all(t["resources"]["accelerators"] == {"H100-SXM": 1} for t in client.launched)
    assert SECRET not in out.getvalue() and SECRET not in (tmp_path / "golf.db").read_bytes().decode("latin-1")


def test_every_backend_prints_a_dry_run_plan_for_8xh100(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "GOLF_CONFIG": str(tmp_path / "none.toml"), "COLUMNS": "200",
           "HF_TOKEN": SECRET}
    expected = {"runpod": "NVIDIA H100 80GB HBM3", "modal": "H100:8", "skypilot": "H100-SXM:8"}
    for backend, gpu_name in expected.items():
        proc = subprocess.run([sys.executable, "-m", "launcher", "launch", "--gpus", "8xH100", "--backend", backend,
                               "--dry-run", "--seeds", "42,314,999", "-e", f"HF_TOKEN={SECRET}"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert gpu_name in proc.stdout and proc.stdout.count("seed ") >= 3
        assert "estimated_cost_usd" in proc.stdout and "HF_TOKEN=***" in proc.stdout and SECRET not in proc.stdout
        price = DEFAULTS["prices"][backend]["H100"]
        hours = (900 + 600 + 600 + 2 * 120) / 3600
        assert f"{round(hours * 8 * price * 3, 2)}" in proc.stdout
